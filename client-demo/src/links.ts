/**
 * The Apollo link chain: error link, then auth link, then HTTP.
 *
 * An operation goes down the chain and its result comes back up, so the
 * error link sees the result of everything below it, and a retry it starts
 * runs through the auth link again, picking up the new token.
 */
import {
  ApolloClient,
  ApolloLink,
  HttpLink,
  InMemoryCache,
} from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import { from, switchMap } from "rxjs";
import { errorCode } from "./errors";
import { getAccessToken, tokenStamp } from "./tokenStore";

type Refresh = (staleStamp: number) => Promise<void>;

/**
 * Add `Authorization: Bearer` with the in-memory token, and note in the
 * context which token that was, for the error link.
 */
export const authLink = new SetContextLink((context) => {
  const token = getAccessToken();
  const headers = { ...context.headers };
  if (token) headers.authorization = `Bearer ${token}`;

  return { headers, tokenStamp: tokenStamp() };
});

/**
 * Send to `uri` with cookies. `credentials: "include"` is what lets the
 * refresh cookie travel when the SPA and the API have different origins;
 * on the same origin it changes nothing.
 */
export function createHttpLink(uri: string): HttpLink {
  return new HttpLink({ uri, credentials: "include" });
}

/**
 * On `UNAUTHENTICATED`, refresh once and retry the operation once.
 *
 * Operations that fail together all wait on the same refresh
 * (refreshQueue.ts); one whose token was already replaced while it was on
 * the wire retries at once. ErrorLink hands the retry's result straight to
 * the caller, so a retry that fails again is not retried: no loops.
 */
export function createErrorLink(refresh: Refresh): ErrorLink {
  return new ErrorLink(({ error, operation, forward }) => {
    if (errorCode(error) !== "UNAUTHENTICATED") return;

    const sentWith: number = operation.getContext().tokenStamp;
    return from(refresh(sentWith)).pipe(switchMap(() => forward(operation)));
  });
}

export function createApolloClient(uri: string, refresh: Refresh): ApolloClient {
  return new ApolloClient({
    link: ApolloLink.from([
      createErrorLink(refresh),
      authLink,
      createHttpLink(uri),
    ]),
    cache: new InMemoryCache(),
  });
}
