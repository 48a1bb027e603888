/**
 * Getting a new access token: one refresh at a time, in this tab and across
 * tabs.
 *
 * Every refresh rotates the refresh cookie (CONTRACT.md, rotation rule 1), and
 * presenting a rotated-out cookie again revokes the whole session (rule 3).
 * So the refreshes of one browser must never race:
 *
 * - in this tab, all callers share one promise while a refresh is in flight;
 * - across tabs, the Web Locks API lets one tab refresh at a time, and the
 *   winner hands its token to the others (tabSync.ts); a tab that gets the
 *   lock after a sibling has refreshed uses that token instead of rotating
 *   the shared cookie again.
 *
 * The server's grace window (rule 2) is the safety net for the races that
 * remain, such as a tab closed halfway through a refresh.
 */
import { API_URL } from "./config";
import { AuthError, firstErrorOfBody } from "./errors";
import { shareCredentials } from "./tabSync";
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
  await withRefreshLock(async () => {
    // While this tab queued for the lock, the holder may have refreshed and
    // sent us the result. The cookie is shared: refreshing again would only
    // rotate it once more for nothing.
    if (hasNewerToken(staleStamp)) return;

    const credentials = credentialsFrom(await requestRefresh());
    storeCredentials(credentials);
    shareCredentials(credentials);
  });
}

function hasNewerToken(staleStamp: number): boolean {
  return tokenStamp() !== staleStamp && getAccessToken() !== null;
}

async function withRefreshLock(task: () => Promise<void>): Promise<void> {
  // Web Locks exist in secure contexts only (https, localhost, 127.0.0.1).
  if (!navigator.locks) return task();
  await navigator.locks.request(LOCK_NAME, task);
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

    const remaining = credentials.expiresAt - Date.now();
    const lead = Math.min(30_000, remaining / 4);
    const stamp = tokenStamp();
    timer = setTimeout(() => {
      // A failure is already dealt with by `refresh`; the next request
      // through the error link tries again.
      refresh(stamp).catch(() => undefined);
    }, Math.max(0, remaining - lead));
  });
}
