/**
 * Messages between tabs of this origin.
 *
 * All tabs share one refresh cookie, and so one session. When a tab gets a
 * new access token it hands it to its siblings, which then need no refresh
 * of their own; when a session ends (sign-out, revocation, reuse) every tab
 * learns it at once instead of at its next request. A BroadcastChannel
 * reaches only same-origin documents of this browser profile and keeps
 * nothing on disk.
 */
import type { Credentials } from "./tokenStore";
import type { SignedOutReason } from "./auth";

export type TabMessage =
  | { type: "credentials"; credentials: Credentials }
  | { type: "ended"; reason: SignedOutReason | null };

const channel =
  typeof BroadcastChannel === "undefined"
    ? null
    : new BroadcastChannel("token-service-auth");

export function shareCredentials(credentials: Credentials): void {
  channel?.postMessage({ type: "credentials", credentials });
}

export function shareSessionEnd(reason: SignedOutReason | null): void {
  channel?.postMessage({ type: "ended", reason });
}

export function listenToSiblings(handle: (message: TabMessage) => void): void {
  channel?.addEventListener("message", (event: MessageEvent<TabMessage>) => {
    handle(event.data);
  });
}

/** The next message from a sibling, or `null` after `timeoutMs`. */
export function nextSiblingMessage(timeoutMs: number): Promise<TabMessage | null> {
  return new Promise((resolve) => {
    if (!channel) return resolve(null);

    // Listeners run in the order they were added: the one of
    // `listenToSiblings` has taken the message in before this resolves.
    const finish = (message: TabMessage | null) => {
      clearTimeout(timer);
      channel.removeEventListener("message", onMessage);
      resolve(message);
    };
    const onMessage = (event: MessageEvent<TabMessage>) => finish(event.data);
    const timer = setTimeout(() => finish(null), timeoutMs);
    channel.addEventListener("message", onMessage);
  });
}
