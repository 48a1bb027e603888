/**
 * Signed in or out, and why: the session as the pages see it.
 *
 * "Signed in" simply means an access token is held (tokenStore.ts). When a
 * session ends, the reason is kept so that the sign-in page can say what
 * happened: a session that ended (expired, revoked) reads very differently
 * from one that was closed because its refresh token was used twice, which
 * means someone else holds a copy of the cookie.
 */
import type { ApolloClient } from "@apollo/client";
import { ENDED_IN_SIBLING, errorCode } from "./errors";
import { LOGIN_USER, LOGOUT, REGISTER_USER } from "./operations";
import { refreshAccessToken } from "./refreshQueue";
import { listenToSiblings, shareCredentials, shareSessionEnd } from "./tabSync";
import {
  type AuthPayload,
  type User,
  clearCredentials,
  credentialsFrom,
  currentCredentials,
  onCredentialsChange,
  storeCredentials,
} from "./tokenStore";

export type SignedOutReason =
  | "signed-out" // the user signed out, in this tab or another
  | "ended" // REFRESH_TOKEN_INVALID: expired or revoked
  | "reused" // REFRESH_TOKEN_REUSED: closed to protect the user
  | "unreachable"; // the session could not be checked

export type AuthView =
  | { status: "restoring" }
  | { status: "signed-in"; user: User }
  | { status: "signed-out"; reason: SignedOutReason | null };

let restoring = true;
let reason: SignedOutReason | null = null;
const listeners = new Set<() => void>();

export function authView(): AuthView {
  const credentials = currentCredentials();
  if (credentials) return { status: "signed-in", user: credentials.user };
  if (restoring) return { status: "restoring" };
  return { status: "signed-out", reason };
}

/** Call `listener` whenever `authView()` may have changed. */
export function onAuthChange(listener: () => void): void {
  listeners.add(listener);
  onCredentialsChange(listener);
}

/**
 * The silent refresh on page load: the access token died with the last
 * page, the refresh cookie did not.
 */
export async function restoreSession(): Promise<void> {
  try {
    await refreshAccessToken();
  } catch (error) {
    if (!settleRefreshFailure(error, true)) reason = "unreachable";
  } finally {
    restoring = false;
    notify();
  }
}

/**
 * The refresh behind the error link and the proactive timer: like
 * `refreshAccessToken`, but a refusal that proves the session over signs
 * out this tab and its siblings.
 */
export async function refreshSession(staleStamp?: number): Promise<void> {
  try {
    await refreshAccessToken(staleStamp);
  } catch (error) {
    settleRefreshFailure(error, false);
    throw error;
  }
}

/** Sign out when `error` says the session is over; report whether it was. */
function settleRefreshFailure(error: unknown, onLoad: boolean): boolean {
  switch (errorCode(error)) {
    case "REFRESH_TOKEN_REUSED":
      endSession("reused");
      return true;
    case "REFRESH_TOKEN_INVALID":
      endSession("ended");
      return true;
    case "REFRESH_TOKEN_MISSING":
      // On load: simply not signed in. Later: the cookie is gone.
      endSession(onLoad ? null : "ended", !onLoad);
      return true;
    case ENDED_IN_SIBLING:
      return true; // the sibling's message has already signed us out
    default:
      // NETWORK_ERROR, RATE_LIMITED, SERVICE_UNAVAILABLE: the session may
      // well be alive; the next request tries again.
      return false;
  }
}

export async function signIn(
  client: ApolloClient,
  email: string,
  password: string,
): Promise<void> {
  const { data } = await client.mutate({
    mutation: LOGIN_USER,
    variables: { email, password },
  });
  if (data) acceptPayload(data.loginUser);
}

export async function register(
  client: ApolloClient,
  email: string,
  password: string,
): Promise<void> {
  const { data } = await client.mutate({
    mutation: REGISTER_USER,
    variables: { email, password },
  });
  if (data) acceptPayload(data.registerUser);
}

/**
 * Sign out: the server revokes the session and expires the cookie, this tab
 * forgets the token, and so do its siblings.
 */
export async function signOut(client: ApolloClient): Promise<void> {
  try {
    await client.mutate({ mutation: LOGOUT });
  } finally {
    endSession("signed-out");
  }
}

/** Forget the token, remember why, and (unless told not to) tell siblings. */
export function endSession(why: SignedOutReason | null, announce = true): void {
  reason = why;
  clearCredentials();
  if (announce) shareSessionEnd(why);
  notify();
}

/** Take the tokens and session ends that sibling tabs hand over. */
export function followSiblings(): void {
  listenToSiblings((message) => {
    if (message.type === "ended") {
      // A tab already signed out keeps its own reason: after a sign-out
      // here, a sibling's late refresh finds no cookie and calls it "ended".
      if (currentCredentials() || restoring) endSession(message.reason, false);
      return;
    }

    // Messages may cross; a token that expires later is the newer one.
    const held = currentCredentials();
    if (!held || message.credentials.expiresAt > held.expiresAt) {
      reason = null;
      storeCredentials(message.credentials);
    }
  });
}

function acceptPayload(payload: AuthPayload): void {
  const credentials = credentialsFrom(payload);
  reason = null;
  storeCredentials(credentials);
  shareCredentials(credentials);
}

function notify(): void {
  listeners.forEach((listener) => listener());
}
