// Small DOM helpers the load-test panel's modules share.
export const $ = (id) => document.getElementById(id);

/** Sets the text only when it changed: a live region announces every write, even of the same words. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * An element: `attrs` are attributes, except `class` and `text`, and booleans, which are set as
 * properties (hidden, checked, disabled, selected); null and false children are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (typeof value === 'boolean') node[name] = value;
    else node.setAttribute(name, String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}
