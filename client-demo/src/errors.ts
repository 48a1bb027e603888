/**
 * Reading the service's error codes, wherever they arrive.
 *
 * Field errors come as GraphQL errors with `extensions.code` (status 200);
 * requests refused before execution, such as a failed origin check, come
 * with a 4xx status and the same JSON shape in the body.
 */
import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";

/**
 * Not a server code: a refresh this tab waited for ended the session in a
 * sibling tab instead, and that tab's message has signed this one out too.
 */
export const ENDED_IN_SIBLING = "ENDED_IN_SIBLING";

/** An error from a call made without Apollo (the refresh), with its code. */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

interface ErrorEntry {
  message?: string;
  extensions?: { code?: unknown; retryAfter?: unknown };
}

/** The `extensions.code` of the first error in `error`, if it has one. */
export function errorCode(error: unknown): string | null {
  return firstEntry(error)?.extensions?.code?.toString() ?? null;
}

/** A sentence to show a person. */
export function errorMessage(error: unknown): string {
  const entry = firstEntry(error);
  const code = entry?.extensions?.code;

  if (code === "RATE_LIMITED") {
    const seconds = Number(entry?.extensions?.retryAfter);
    return Number.isFinite(seconds)
      ? `Too many attempts. Try again in ${Math.ceil(seconds)} s.`
      : "Too many attempts. Try again later.";
  }
  if (entry?.message) return entry.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

/** Parse the body of a GraphQL response into its first error, if any. */
export function firstErrorOfBody(bodyText: string): ErrorEntry | null {
  try {
    const body = JSON.parse(bodyText) as { errors?: ErrorEntry[] };
    return body.errors?.[0] ?? null;
  } catch {
    return null;
  }
}

function firstEntry(error: unknown): ErrorEntry | null {
  if (error instanceof AuthError) {
    return {
      message: error.message,
      extensions: { code: error.code, retryAfter: error.retryAfter },
    };
  }
  if (CombinedGraphQLErrors.is(error)) return error.errors[0] ?? null;
  if (ServerError.is(error)) return firstErrorOfBody(error.bodyText);
  return null;
}
