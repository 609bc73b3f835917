/** The Classes view: the classes a teacher can see, and a form to create one. */

import { api } from './api.js';
import { $, clear, h, showResult } from './dom.js';
import { state, loadClasses, loadDevices, deviceName } from './state.js';

export function initClasses() {
  $('#class-form').addEventListener('submit', (event) => {
    event.preventDefault();
    createClass();
  });
}

export async function showClasses() {
  await Promise.all([loadClasses(), loadDevices()]);
  const body = clear($('#classes-table tbody'));
  if (!state.classes.length) {
    body.append(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No classes yet. Create the first one above.')));
    return;
  }
  for (const item of state.classes) {
    const devices = item.devices || [];
    body.append(h('tr', { dataset: { classId: String(item.id) } },
      h('th', { scope: 'row' }, item.name),
      h('td', {}, teacherName(item.teacher)),
      h('td', {}, devices.length ? devices.map(deviceName).join(', ') : h('span', { class: 'muted' }, 'none yet')),
      h('td', { class: 'row-actions' },
        h('a', { class: 'button quiet small', href: `#reports/class/${encodeURIComponent(item.id)}` }, 'Report'))));
  }
}

async function createClass() {
  const input = $('#class-name');
  const result = $('#class-result');
  const name = input.value.trim();
  if (!name) {
    showResult(result, 'Type a name for the class.', 'error');
    return;
  }
  const submit = $('#class-submit');
  submit.disabled = true;
  try {
    const created = await api.post('/api/classes', { name });
    showResult(result, `Created class “${created.name || name}”.`);
    input.value = '';
    await showClasses();
  } catch (error) {
    showResult(result, error.message, 'error');
  } finally {
    submit.disabled = false;
  }
}

function teacherName(teacher) {
  if (!teacher) return h('span', { class: 'muted' }, '—');
  return typeof teacher === 'object' ? teacher.username || teacher.name || String(teacher.id) : String(teacher);
}
