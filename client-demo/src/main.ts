/**
 * Where the pieces meet: the Apollo client and its links, the refresh that
 * they and the proactive timer share, the tabs, and the pages.
 */
import "./style.css";
import {
  type AuthView,
  authView,
  followSiblings,
  onAuthChange,
  refreshSession,
  restoreSession,
} from "./auth";
import { API_URL } from "./config";
import { h } from "./dom";
import { createApolloClient } from "./links";
import { profilePage } from "./pages/profile";
import { sessionsPage } from "./pages/sessions";
import { signInPage } from "./pages/signIn";
import { startProactiveRefresh } from "./refreshQueue";

const client = createApolloClient(API_URL, refreshSession);
followSiblings();
startProactiveRefresh(refreshSession);

const SIGNED_IN_ROUTES = ["#/profile", "#/sessions"];
const SIGNED_OUT_ROUTES = ["#/signin", "#/register"];
const root = document.getElementById("app")!;
let shown = "";

/**
 * Show the page for the route and the session state, sending the route to a
 * page of the right kind (a signed-out visitor cannot see #/sessions).
 * Nothing is redrawn when neither changed: a refreshed token is no reason
 * to lose what the user typed.
 */
function render(): void {
  const view = authView();
  const route = view.status === "restoring" ? location.hash : settleRoute(view);

  const key = JSON.stringify([route, view.status, identity(view)]);
  if (key === shown) return;
  shown = key;

  root.replaceChildren(page(route, view));
}

/** What, besides the route, makes one page differ from another. */
function identity(view: AuthView): string | null {
  if (view.status === "signed-in") return view.user.id;
  if (view.status === "signed-out") return view.reason;
  return null;
}

function settleRoute(view: AuthView): string {
  const routes = view.status === "signed-in" ? SIGNED_IN_ROUTES : SIGNED_OUT_ROUTES;
  const route = routes.includes(location.hash) ? location.hash : routes[0];
  if (route !== location.hash) history.replaceState(null, "", route);
  return route;
}

function page(route: string, view: AuthView): HTMLElement {
  switch (view.status) {
    case "restoring":
      return h("p", { class: "narrow", testid: "page-restoring" }, "Restoring…");
    case "signed-out":
      // The Apollo cache holds the last user's data; a new one starts clean.
      void client.clearStore();
      return signInPage(
        client,
        route === "#/register" ? "register" : "signin",
        view.reason,
      );
    case "signed-in":
      return route === "#/sessions"
        ? sessionsPage(client, view.user)
        : profilePage(client, view.user);
  }
}

window.addEventListener("hashchange", render);
onAuthChange(render);
render();
void restoreSession();
