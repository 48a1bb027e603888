/**
 * Getting a new access token: one refresh at a time, in this tab and across
 * tabs.
 *
 * Every refresh rotates the refresh cookie (CONTRACT.md, rotation rule 1), and
 * presenting a rotated-out cookie again revokes the whole session (rule 3).
 * So the refreshes of one browser must never race:
 *
 * - in this tab, all callers share one promise while a refresh is in flight;
 * - across tabs, a Web Lock lets one tab refresh at a time, and that tab
 *   hands its token to the others (tabSync.ts), which use it instead of
 *   rotating the shared cookie again.
 *
 * The server's grace window (rule 2) is the safety net for the races that
 * remain, such as a tab closed halfway through a refresh.
 */
import { API_URL } from "./config";
import { AuthError, ENDED_IN_SIBLING, firstErrorOfBody } from "./errors";
import { nextSiblingMessage, shareCredentials } from "./tabSync";
import {
  type AuthPayload,
  credentialsFrom,
  currentCredentials,
  getAccessToken,
  onCredentialsChange,
  storeCredentials,
  tokenStamp,
} from "./tokenStore";

const REFRESH_TOKEN = `mutation RefreshToken {
  refreshToken {
    accessToken tokenType expiresIn
    user { id email userType createdAt }
  }
}`;

const LOCK_NAME = "token-service-refresh";

/** How long to wait for a sibling's refresh before trying ourselves. */
const SIBLING_WAIT_MS = 5_000;

let inFlight: Promise<void> | null = null;

/**
 * Make sure a newer access token than the one stamped `staleStamp` is held.
 *
 * @param staleStamp - the `tokenStamp()` of the token the caller found
 *   wanting (the one its request was sent with). If the token has changed
 *   since, the caller simply retries with the new one.
 * @throws AuthError when the server refuses; its code says why.
 */
export function refreshAccessToken(staleStamp = tokenStamp()): Promise<void> {
  if (hasNewerToken(staleStamp)) return Promise.resolve();

  inFlight ??= refreshOnceAcrossTabs(staleStamp).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

async function refreshOnceAcrossTabs(staleStamp: number): Promise<void> {
  // Web Locks exist in secure contexts only (https, localhost, 127.0.0.1).
  if (!navigator.locks) return refreshUnlessNewer(staleStamp);

  const refreshedHere = await navigator.locks.request(
    LOCK_NAME,
    { ifAvailable: true },
    async (lock) => {
      if (lock === null) return false;
      await refreshUnlessNewer(staleStamp);
      return true;
    },
  );
  if (refreshedHere) return;

  // A sibling holds the lock: it is rotating the shared cookie right now.
  // Queueing behind it would rotate the cookie once more, and could even
  // win the lock before its message arrives; wait for the message instead.
  if (!hasNewerToken(staleStamp)) {
    const message = await nextSiblingMessage(SIBLING_WAIT_MS);
    if (message?.type === "ended") {
      throw new AuthError(ENDED_IN_SIBLING, "The session ended in another tab.");
    }
  }
  if (hasNewerToken(staleStamp)) return;

  // No word: the sibling failed, or was closed halfway. Take a turn.
  await navigator.locks.request(LOCK_NAME, () => refreshUnlessNewer(staleStamp));
}

async function refreshUnlessNewer(staleStamp: number): Promise<void> {
  if (hasNewerToken(staleStamp)) return;

  const credentials = credentialsFrom(await requestRefresh());
  storeCredentials(credentials);
  shareCredentials(credentials); // before the lock is let go
}

function hasNewerToken(staleStamp: number): boolean {
  return tokenStamp() !== staleStamp && getAccessToken() !== null;
}

/**
 * The `refreshToken` mutation itself.
 *
 * Plain fetch, not Apollo: the refresh must not pass through the error link
 * that calls it. `credentials: "include"` sends the HttpOnly cookie and
 * accepts its successor, also across origins; the browser adds the `Origin`
 * header that the server's CSRF check demands.
 */
export async function requestRefresh(): Promise<AuthPayload> {
  let response: Response;
  try {
    response = await fetch(API_URL, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: REFRESH_TOKEN }),
    });
  } catch {
    throw new AuthError("NETWORK_ERROR", "The server could not be reached.");
  }

  const bodyText = await response.text();
  const failure = firstErrorOfBody(bodyText);
  if (failure) {
    const { code, retryAfter } = failure.extensions ?? {};
    throw new AuthError(
      String(code ?? "INTERNAL_SERVER_ERROR"),
      failure.message ?? "The session could not be refreshed.",
      typeof retryAfter === "number" ? retryAfter : undefined,
    );
  }
  if (!response.ok) {
    throw new AuthError("NETWORK_ERROR", `The server answered ${response.status}.`);
  }

  return (JSON.parse(bodyText) as { data: { refreshToken: AuthPayload } }).data
    .refreshToken;
}

/**
 * Refresh shortly before the access token runs out, so that an active tab
 * never meets `UNAUTHENTICATED`.
 *
 * Every tab schedules its own timer from the token it holds; tabs that hold
 * the same token (handed over by a sibling) fire together, and the lock above
 * turns that into one refresh. A timer that fires late (a sleeping laptop)
 * is harmless: the error link covers the expired token.
 */
export function startProactiveRefresh(
  refresh: (staleStamp: number) => Promise<void>,
): void {
  let timer: ReturnType<typeof setTimeout> | undefined;

  onCredentialsChange(() => {
    clearTimeout(timer);
    const credentials = currentCredentials();
    if (!credentials) return;

    // From the token's own lifetime, not from "now": tabs that share a
    // token compute the same moment, so one of them refreshes while the
    // others are still waiting on the lock and take its result.
    const lead = Math.min(30_000, credentials.lifetime / 4);
    const stamp = tokenStamp();
    timer = setTimeout(() => {
      // A failure is already dealt with by `refresh`; the next request
      // through the error link tries again.
      refresh(stamp).catch(() => undefined);
    }, Math.max(0, credentials.expiresAt - lead - Date.now()));
  });
}
