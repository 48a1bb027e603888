/**
 * A very small way to build DOM nodes.
 *
 * Text always goes in as text nodes, never as HTML, so nothing the server
 * returns (an e-mail address, a user agent) can inject markup.
 */

type Child = Node | string | number | null | undefined | false;
type Handler = (event: Event) => void;
type Props = Record<string, string | boolean | Handler | undefined>;

/**
 * `h("button", { testid: "save", onclick: save }, "Save")`: `testid` becomes
 * `data-testid`, `on*` functions become listeners, `true` a bare attribute.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);

  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "testid") {
      element.dataset.testid = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : value);
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "number" ? String(child) : child);
  }

  return element;
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}
