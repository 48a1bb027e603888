/** The frame around the signed-in pages: who is signed in, where to go. */
import type { ApolloClient } from "@apollo/client";
import { signOut } from "../auth";
import { h } from "../dom";
import type { User } from "../tokenStore";

export type Section = "profile" | "sessions";

export function signedInShell(
  client: ApolloClient,
  user: User,
  active: Section,
  ...content: Node[]
): HTMLElement {
  const link = (section: Section, label: string) =>
    h(
      "a",
      {
        href: `#/${section}`,
        testid: `nav-${section}`,
        "aria-current": section === active ? "page" : undefined,
      },
      label,
    );

  const signOutButton = h(
    "button",
    {
      type: "button",
      class: "secondary",
      testid: "sign-out",
      onclick: () => {
        signOutButton.disabled = true;
        // endSession re-renders the page whether or not the server answered.
        signOut(client).catch(() => undefined);
      },
    },
    "Sign out",
  );

  return h(
    "div",
    { class: "shell", testid: `page-${active}` },
    h(
      "header",
      {},
      h("span", { class: "brand" }, "Token service demo"),
      h("nav", {}, link("profile", "Profile"), link("sessions", "Sessions")),
      h("span", { class: "who", testid: "user-email" }, user.email),
      signOutButton,
    ),
    h("main", {}, ...content),
  );
}

/** A message line that pages fill in as their requests finish. */
export function statusLine(testid: string): HTMLParagraphElement {
  return h("p", { class: "status", testid, role: "status" });
}
