/** Sign in and register: one form, two mutations. */
import type { ApolloClient } from "@apollo/client";
import { type SignedOutReason, register, signIn } from "../auth";
import { h } from "../dom";
import { errorMessage } from "../errors";

export type Mode = "signin" | "register";

const NOTICES: Record<SignedOutReason, { title: string; text: string }> = {
  reused: {
    title: "Session closed to protect you",
    text:
      "This session was used from somewhere else and was closed to protect " +
      "you. Someone may hold a copy of your sign-in cookie. Sign in again, " +
      "then check your sessions.",
  },
  ended: {
    title: "Your session ended",
    text:
      "It expired, or it was signed out from another device. " +
      "Sign in again to continue.",
  },
  "signed-out": {
    title: "You signed out",
    text: "The session is closed on the server and forgotten in every tab.",
  },
  unreachable: {
    title: "The server could not be reached",
    text: "Your session could not be restored just now. Reload to try again.",
  },
};

export function signInPage(
  client: ApolloClient,
  mode: Mode,
  reason: SignedOutReason | null,
): HTMLElement {
  const registering = mode === "register";
  const email = h("input", {
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
    testid: "email",
  });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: registering ? "new-password" : "current-password",
    required: true,
    testid: "password",
  });
  const submit = h(
    "button",
    { type: "submit", testid: "submit" },
    registering ? "Create account" : "Sign in",
  );
  const problem = h("p", { class: "error", testid: "form-error", role: "alert" });

  const onsubmit = async (event: Event) => {
    event.preventDefault();
    submit.disabled = true;
    problem.textContent = "";

    try {
      const act = registering ? register : signIn;
      await act(client, email.value, password.value);
    } catch (error) {
      problem.textContent = errorMessage(error);
      submit.disabled = false;
    }
  };

  const notice = reason && !registering ? NOTICES[reason] : null;

  return h(
    "div",
    { class: "narrow", testid: `page-${mode}` },
    h("h1", {}, "Token service demo"),
    notice &&
      h(
        "section",
        {
          class: `notice ${reason}`,
          testid: "signed-out-notice",
          "data-reason": reason ?? undefined,
        },
        h("h2", {}, notice.title),
        h("p", {}, notice.text),
      ),
    h(
      "form",
      { class: "card", onsubmit },
      h("h2", {}, registering ? "Create an account" : "Sign in"),
      h("label", {}, "E-mail", email),
      h("label", {}, "Password", password),
      problem,
      submit,
    ),
    h(
      "p",
      { class: "switch" },
      registering ? "Have an account? " : "New here? ",
      h(
        "a",
        { href: registering ? "#/signin" : "#/register", testid: "switch-mode" },
        registering ? "Sign in" : "Create an account",
      ),
    ),
  );
}
