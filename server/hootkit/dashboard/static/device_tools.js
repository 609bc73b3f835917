/** A device card's tools (a XiaoZhi board's volume, brightness, screen...): staff open the box, set a value, run it. */

import { api, path } from './api.js';
import { clear, h, showResult } from './dom.js';

/** The card's (closed) tools box; staff get controls built from the tools' schemas when they open it. */
export function toolsBox(staff) {
  const box = h('details', { class: 'device-tools', 'data-testid': 'device-tools', hidden: true },
    h('summary', {}, 'Device tools'),
    h('div', { class: 'tool-list' }));
  if (staff) box.addEventListener('toggle', () => { if (box.open) loadTools(box).catch((error) => failed(box, error)); });
  return box;
}

/** Shows or hides the box and names the tools; an open box whose tools changed is built again. */
export function fillTools(box, device, staff) {
  const names = device.tools || [];
  const changed = box.dataset.names !== names.join('\n');
  box.dataset.names = names.join('\n');
  box.hidden = !names.length;
  box.querySelector('summary').textContent = `Device tools (${names.length})`;
  if (!changed) return;
  const list = clear(box.querySelector('.tool-list'));
  if (!staff) list.append(h('p', { class: 'meta' }, names.join(', ')));
  else if (box.open && names.length) loadTools(box).catch((error) => failed(box, error));
}

async function loadTools(box) {
  const deviceId = box.closest('[data-device-id]').dataset.deviceId;
  const data = await api.get(path`/api/devices/${deviceId}/tools`);
  clear(box.querySelector('.tool-list')).append(...data.tools.map(toolForm));
}

function failed(box, error) {
  clear(box.querySelector('.tool-list')).append(h('p', { class: 'result error' }, error.message));
}

function toolForm(tool) {
  const properties = (tool.inputSchema && tool.inputSchema.properties) || {};
  const short = tool.name.replace(/^self\./, '');
  const form = h('form', { class: 'tool', dataset: { tool: tool.name }, 'data-testid': 'tool', onsubmit: (event) => event.preventDefault() },
    h('span', { class: 'tool-name', title: tool.description || tool.name }, short),
    Object.entries(properties).map(([name, schema]) => argumentInput(short, name, schema || {})),
    h('button', {
      type: 'button', class: 'small', dataset: { action: 'call-tool' }, 'data-testid': 'call-tool', disabled: !tool.allowed,
      title: tool.allowed ? tool.description || '' : 'Not allowed on this server (the device_tools setting)',
    }, Object.keys(properties).length ? 'Set' : 'Run'),
    h('output', { class: 'result', 'data-testid': 'tool-result', hidden: true }));
  return form;
}

function argumentInput(tool, name, schema) {
  const label = `${tool} ${name}`;
  if (Array.isArray(schema.enum)) {
    return h('select', { dataset: { arg: name, type: 'string' }, 'aria-label': label }, schema.enum.map((value) => h('option', { value }, value)));
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const bounded = Number.isFinite(schema.minimum) && Number.isFinite(schema.maximum);
    const start = bounded ? Math.round((schema.minimum + schema.maximum) / 2) : 0;
    const shown = h('span', { class: 'tool-value' }, String(start));
    const input = h('input', {
      type: bounded ? 'range' : 'number', dataset: { arg: name, type: schema.type }, 'aria-label': label,
      min: schema.minimum, max: schema.maximum, step: schema.type === 'integer' ? 1 : 'any', value: start,
      oninput: () => { shown.textContent = input.value; },
    });
    return bounded ? [input, shown] : input;
  }
  if (schema.type === 'boolean') return h('input', { type: 'checkbox', dataset: { arg: name, type: 'boolean' }, 'aria-label': label });
  return h('input', { type: 'text', dataset: { arg: name, type: 'string' }, 'aria-label': label, maxlength: 200 });
}

/** Calls the tool of the form the button is in; the device's answer is shown beside it. */
export async function callTool(deviceId, button) {
  const form = button.closest('form.tool');
  const result = form.querySelector('.result');
  const argumentsOf = {};
  for (const input of form.querySelectorAll('[data-arg]')) {
    const type = input.dataset.type;
    argumentsOf[input.dataset.arg] = type === 'boolean' ? input.checked
      : type === 'integer' ? parseInt(input.value, 10) : type === 'number' ? Number(input.value) : input.value;
  }
  try {
    const data = await api.post(path`/api/devices/${deviceId}/tools/${form.dataset.tool}`, { arguments: argumentsOf });
    const content = (data.result && data.result.content) || [];
    const said = content.map((part) => part.text).filter(Boolean).join(' ');
    showResult(result, said ? `The device says: ${said}` : 'Done.'); // its own words, not the server's
  } catch (error) {
    showResult(result, error.message, 'error');
  }
}
