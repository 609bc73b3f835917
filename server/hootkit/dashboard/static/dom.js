/** Small DOM helpers: build elements safely (text, never HTML), show messages, format times. */

/**
 * h('button', {class: 'primary', dataset: {action: 'pause'}, onclick: fn}, 'Pause')
 * Children are nodes or text; null/undefined/false are skipped; arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, '');
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Shows a short message in the toast area; errors stay longer. */
export function toast(message, kind = 'info') {
  const area = document.getElementById('toast');
  if (!area) return;
  const item = h('div', { class: `toast-item ${kind}`, title: 'Click to dismiss', onclick: () => item.remove() }, message);
  area.append(item);
  while (area.children.length > 3) area.firstElementChild.remove(); // only the latest few
  setTimeout(() => item.remove(), kind === 'error' ? 12000 : 6000);
}

/** Puts a result line (success or error) into a form's result element. */
export function showResult(element, message, kind = 'ok') {
  element.hidden = !message;
  element.textContent = message || '';
  element.classList.toggle('error', kind === 'error');
  element.classList.toggle('ok', kind === 'ok');
}

/** "14:05" today, "3 Mar, 14:05" otherwise. */
export function formatTime(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: 'numeric', month: 'short' })}, ${time}`;
}

/** Seconds as whole minutes for a teacher ("0 min" below half a minute, one decimal under 10). */
export function formatMinutes(seconds) {
  const minutes = (Number(seconds) || 0) / 60;
  if (minutes < 10) return `${Math.round(minutes * 10) / 10} min`;
  return `${Math.round(minutes)} min`;
}

/** Quiz results as ticks and crosses, e.g. ✓✓✗, with a readable label. */
export function quizTicks(quiz) {
  const results = Array.isArray(quiz) ? quiz : [];
  const right = results.filter((item) => item && item.correct).length;
  return h(
    'span',
    { class: 'quiz', 'aria-label': `Quiz: ${right} of ${results.length} right`, title: `${right} of ${results.length} right` },
    results.map((item) =>
      h('span', { class: item && item.correct ? 'tick' : 'cross', 'aria-hidden': 'true' }, item && item.correct ? '✓' : '✗'),
    ),
  );
}
