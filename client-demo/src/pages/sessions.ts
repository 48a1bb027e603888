/**
 * The user's sessions: one per signed-in browser, the current one marked.
 * Revoking one signs that browser out at its next request.
 */
import type { ApolloClient } from "@apollo/client";
import { formatTime, h } from "../dom";
import { errorMessage } from "../errors";
import { REVOKE_SESSION, SESSIONS, type Session } from "../operations";
import type { User } from "../tokenStore";
import { signedInShell, statusLine } from "./layout";

export function sessionsPage(client: ApolloClient, user: User): HTMLElement {
  const list = h("ul", { class: "sessions", testid: "sessions-list" });
  const status = statusLine("sessions-status");
  let others: Session[] = [];

  const load = async () => {
    const { data } = await client.query({
      query: SESSIONS,
      fetchPolicy: "network-only",
    });
    const sessions = data?.sessions ?? [];
    others = sessions.filter((session) => !session.current);
    list.replaceChildren(...sessions.map((session) => row(session, revoke)));
    revokeOthers.disabled = others.length === 0;
  };

  const act = async (work: () => Promise<string>) => {
    status.textContent = "Working…";
    try {
      status.textContent = await work();
      await load();
    } catch (error) {
      status.textContent = errorMessage(error);
    }
  };

  const revoke = (session: Session) =>
    act(async () => {
      await revokeSession(client, session.id);
      return "Session revoked.";
    });

  // There is no single mutation for "everywhere but here" (`logoutAll` ends
  // this session too), so revoke the others one by one.
  const revokeAllOthers = () =>
    act(async () => {
      const ids = others.map((session) => session.id);
      await Promise.all(ids.map((id) => revokeSession(client, id)));
      return `Signed out of ${ids.length} other session(s).`;
    });

  const revokeOthers = h(
    "button",
    { type: "button", testid: "revoke-others", onclick: revokeAllOthers },
    "Sign out everywhere else",
  );

  status.textContent = "Loading…";
  load().then(
    () => (status.textContent = ""),
    (error: unknown) => (status.textContent = errorMessage(error)),
  );

  return signedInShell(
    client,
    user,
    "sessions",
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Where you are signed in"),
      list,
      status,
      revokeOthers,
    ),
  );
}

async function revokeSession(client: ApolloClient, id: string): Promise<void> {
  await client.mutate({ mutation: REVOKE_SESSION, variables: { id } });
}

function row(session: Session, revoke: (s: Session) => void): HTMLElement {
  return h(
    "li",
    {
      testid: "session-row",
      "data-session-id": session.id,
      "data-current": String(session.current),
    },
    h(
      "div",
      { class: "what" },
      h("strong", {}, describeAgent(session.userAgent)),
      session.current &&
        h("span", { class: "badge", testid: "current-session" }, "This browser"),
      h(
        "small",
        {},
        `${session.ipAddress ?? "unknown address"} · signed in `,
        formatTime(session.createdAt),
        " · last active ",
        formatTime(session.lastUsedAt),
      ),
    ),
    !session.current &&
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          testid: "revoke-session",
          onclick: () => revoke(session),
        },
        "Revoke",
      ),
  );
}

/** "Chrome on Linux" from a user agent string, or the string itself. */
function describeAgent(userAgent: string | null): string {
  if (!userAgent) return "Unknown browser";

  const browser =
    /Edg\//.test(userAgent) ? "Edge"
    : /Firefox\//.test(userAgent) ? "Firefox"
    : /(Chrome|Chromium)\//.test(userAgent) ? "Chrome"
    : /Safari\//.test(userAgent) ? "Safari"
    : null;
  const system =
    /Android/.test(userAgent) ? "Android"
    : /iPhone|iPad/.test(userAgent) ? "iOS"
    : /Windows/.test(userAgent) ? "Windows"
    : /Mac OS X/.test(userAgent) ? "macOS"
    : /Linux/.test(userAgent) ? "Linux"
    : null;

  if (!browser) return userAgent.slice(0, 60);
  return system ? `${browser} on ${system}` : browser;
}
