/** The profile: `me`, how long the token has left, and the race demo. */
import type { ApolloClient } from "@apollo/client";
import { formatTime, h } from "../dom";
import { errorMessage } from "../errors";
import { ME } from "../operations";
import { currentCredentials, type User } from "../tokenStore";
import { signedInShell, statusLine } from "./layout";

export function profilePage(client: ApolloClient, user: User): HTMLElement {
  return signedInShell(
    client,
    user,
    "profile",
    profileCard(client),
    tokenCard(),
    raceCard(client),
  );
}

function profileCard(client: ApolloClient): HTMLElement {
  const details = h("dl", { testid: "profile" });
  const status = statusLine("profile-status");
  status.textContent = "Loading…";

  client
    .query({ query: ME, fetchPolicy: "network-only" })
    .then(({ data }) => {
      if (!data) return;
      const { me } = data;
      details.replaceChildren(
        h("dt", {}, "E-mail"),
        h("dd", { testid: "profile-email" }, me.email),
        h("dt", {}, "Account type"),
        h("dd", { testid: "profile-type" }, me.userType),
        h("dt", {}, "User id"),
        h("dd", { testid: "profile-id" }, me.id),
        h("dt", {}, "Member since"),
        h("dd", {}, formatTime(me.createdAt)),
      );
      status.textContent = "";
    })
    .catch((error: unknown) => {
      status.textContent = errorMessage(error);
    });

  return h("section", { class: "card" }, h("h2", {}, "Profile"), details, status);
}

/**
 * How long the in-memory token has left. The token itself is never shown:
 * it is a bearer credential.
 */
function tokenCard(): HTMLElement {
  const left = h("strong", { testid: "token-expiry" });
  const tick = () => {
    const credentials = currentCredentials();
    const seconds = credentials
      ? Math.max(0, Math.round((credentials.expiresAt - Date.now()) / 1000))
      : 0;
    left.textContent = `${seconds} s`;
  };
  const timer = setInterval(() => {
    if (left.isConnected) tick();
    else clearInterval(timer); // the page was left
  }, 1000);
  tick();

  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Access token"),
    h(
      "p",
      {},
      "Held in a JavaScript variable, nowhere else. It expires in ",
      left,
      "; a new one is fetched shortly before, and a reload gets one from ",
      "the HttpOnly refresh cookie.",
    ),
  );
}

/**
 * Five `me` queries in the same tick. If the token has expired (leave the
 * laptop asleep), all five fail with UNAUTHENTICATED and wait on a single
 * `refreshToken` call; the network panel shows one.
 */
function raceCard(client: ApolloClient): HTMLElement {
  const result = statusLine("fire-five-result");

  const fire = async () => {
    result.textContent = "Waiting…";
    const queries = Array.from({ length: 5 }, () =>
      client.query({
        query: ME,
        fetchPolicy: "network-only",
        // Five requests on the wire, not one shared by deduplication.
        context: { queryDeduplication: false },
      }),
    );
    const settled = await Promise.allSettled(queries);
    const answered = settled.filter((outcome) => outcome.status === "fulfilled");
    const failed = settled.find((outcome) => outcome.status === "rejected");
    result.textContent =
      `${answered.length} of 5 answered` +
      (failed ? `; ${errorMessage(failed.reason)}` : ".");
  };

  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Five queries at once"),
    h(
      "p",
      {},
      "Concurrent requests that meet an expired token share one refresh, ",
      "because every refresh rotates the cookie.",
    ),
    h(
      "button",
      { type: "button", class: "secondary", testid: "fire-five", onclick: fire },
      "Fire five queries",
    ),
    result,
  );
}
