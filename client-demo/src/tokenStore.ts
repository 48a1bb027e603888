/**
 * The access token, kept in memory only.
 *
 * A module-scoped variable is the one place where a bearer token is safe from
 * everything but the page's own running code: nothing is written to
 * localStorage, sessionStorage, IndexedDB or a script-readable cookie, where
 * an injected script, a browser extension or a copy of the profile on disk
 * could pick it up later. A reload forgets it; the HttpOnly refresh cookie
 * brings a new one back (see refreshQueue.ts).
 */

export interface User {
  id: string;
  email: string;
  userType: string;
  createdAt: string;
}

/** What the server's AuthPayload tells us, with the expiry made absolute. */
export interface Credentials {
  accessToken: string;
  /** Milliseconds since the epoch, by this machine's clock. */
  expiresAt: number;
  /** The token's whole lifetime in milliseconds (`expiresIn`). */
  lifetime: number;
  user: User;
}

export interface AuthPayload {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  user: User;
}

let credentials: Credentials | null = null;

// Bumped on every change, so that a caller can ask "has the token changed
// since I sent my request?" without comparing (or keeping) token strings.
let stamp = 0;

const listeners = new Set<() => void>();

export function credentialsFrom(payload: AuthPayload): Credentials {
  return {
    accessToken: payload.accessToken,
    expiresAt: Date.now() + payload.expiresIn * 1000,
    lifetime: payload.expiresIn * 1000,
    user: payload.user,
  };
}

export function currentCredentials(): Credentials | null {
  return credentials;
}

export function getAccessToken(): string | null {
  return credentials?.accessToken ?? null;
}

export function tokenStamp(): number {
  return stamp;
}

export function storeCredentials(next: Credentials): void {
  credentials = next;
  changed();
}

export function clearCredentials(): void {
  credentials = null;
  changed();
}

/** Call `listener` after every change; returns a function that stops it. */
export function onCredentialsChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(): void {
  stamp += 1;
  listeners.forEach((listener) => listener());
}
