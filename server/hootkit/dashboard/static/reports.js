/** The Reports view: time, sessions, turns, lessons and flagged turns per device or class; export and delete. */

import { api, path } from './api.js';
import { $, clear, h, toast, formatMinutes, formatTime, quizTicks } from './dom.js';
import { state, isRole, loadClasses, loadDevices, deviceName, className } from './state.js';

export function initReports() {
  $('#report-target').addEventListener('change', () => {
    const [kind, id] = splitTarget($('#report-target').value);
    if (kind) history.replaceState(null, '', `#reports/${kind}/${encodeURIComponent(id)}`);
    loadReport().catch((error) => toast(error.message, 'error'));
  });
  $('#report-delete').addEventListener('click', () => deleteData().catch((error) => toast(error.message, 'error')));
}

/** `target` is "device/<id>" or "class/<id>" from the address, or empty to keep the current choice. */
export async function showReports(target = '') {
  await Promise.all([loadClasses(), loadDevices()]);
  const select = $('#report-target');
  const before = target ? target.replace('/', ':') : select.value;
  clear(select).append(
    h('optgroup', { label: 'Classes' }, state.classes.map((item) => h('option', { value: `class:${item.id}` }, item.name))),
    h('optgroup', { label: 'Devices' }, [...state.devices.values()].map((device) =>
      h('option', { value: `device:${device.device_id}` }, device.name || device.device_id))),
  );
  if ([...select.options].some((option) => option.value === before)) select.value = before;
  await loadReport();
}

function splitTarget(value) {
  const at = value.indexOf(':');
  return at < 0 ? [null, null] : [value.slice(0, at), value.slice(at + 1)];
}

function basePath() {
  const [kind, id] = splitTarget($('#report-target').value);
  if (kind === 'class') return path`/api/classes/${id}`;
  if (kind === 'device') return path`/api/devices/${id}`;
  return null;
}

function targetName() {
  const [kind, id] = splitTarget($('#report-target').value);
  return kind === 'class' ? `class ${className(id) || id}` : deviceName(id);
}

async function loadReport() {
  const base = basePath();
  const box = $('#report');
  for (const [id, format] of [['#report-export-csv', 'csv'], ['#report-export-json', 'json']]) {
    const link = $(id);
    if (base) link.href = `${base}/export?format=${format}`;
    else link.removeAttribute('href');
    link.setAttribute('aria-disabled', String(!base));
  }
  $('#report-delete').disabled = !base;
  $('#report-delete').hidden = !isRole('admin', 'teacher'); // parents read; they delete nothing
  if (!base) {
    clear(box).append(h('p', { class: 'empty' }, 'No classes or devices yet.'));
    return;
  }
  clear(box).append(h('p', { class: 'muted' }, 'Loading…'));
  const reports = (await api.get(`${base}/report`)).reports || [];
  if (basePath() !== base) return; // the teacher picked another one meanwhile
  clear(box);
  if (base.startsWith('/api/classes/')) box.append(classSummary(reports));
  if (!reports.length) box.append(h('p', { class: 'empty' }, 'Nothing recorded yet.'));
  for (const report of reports) box.append(deviceReport(report));
}

function classSummary(reports) {
  const total = (key) => reports.reduce((sum, report) => sum + (Number(report[key]) || 0), 0);
  const flagged = reports.reduce((sum, report) => sum + (report.flagged || []).length, 0);
  return h('section', { class: 'panel report-summary', 'data-testid': 'class-summary' },
    h('h2', {}, `Whole class · ${reports.length} device${reports.length === 1 ? '' : 's'}`),
    stats([['Time spent', formatMinutes(total('time_s'))], ['Sessions', total('sessions')], ['Turns', total('turns')], ['Flagged turns', flagged]]));
}

function deviceReport(report) {
  const flagged = report.flagged || [];
  const lessons = report.lessons || [];
  return h('section', { class: 'panel report-device', 'data-testid': 'device-report', dataset: { deviceId: report.device_id } },
    h('h2', {}, deviceName(report.device_id), h('span', { class: 'meta' }, ` · ${report.device_id}`)),
    stats([['Time spent', formatMinutes(report.time_s)], ['Sessions', report.sessions ?? 0], ['Turns', report.turns ?? 0],
      ['Flagged turns', flagged.length]]),
    h('h3', {}, 'Lessons'),
    lessons.length ? lessonTable(lessons) : h('p', { class: 'muted' }, 'No lessons yet.'),
    h('h3', {}, 'Flagged turns'),
    flagged.length ? h('ul', { class: 'flagged-list' }, flagged.map(flaggedTurn)) : h('p', { class: 'muted' }, 'None.'));
}

function stats(pairs) {
  return h('dl', { class: 'stats' }, pairs.map(([name, value]) => h('div', { class: 'stat' }, h('dt', {}, name), h('dd', {}, String(value)))));
}

function lessonTable(lessons) {
  return h('div', { class: 'table-scroll' }, h('table', { class: 'table compact' },
    h('thead', {}, h('tr', {}, ['Lesson', 'Progress', 'Quiz', 'Assigned', 'Status'].map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, lessons.map((lesson) => {
      const quiz = lesson.quiz || [];
      const right = quiz.filter((item) => item && item.correct).length;
      return h('tr', {},
        h('td', {}, lesson.title || lesson.lesson_id),
        h('td', {}, `${lesson.step ?? 0}/${lesson.steps ?? '?'} steps`),
        h('td', {}, quiz.length ? [quizTicks(quiz), ` ${right}/${quiz.length}`] : h('span', { class: 'muted' }, '—')),
        h('td', {}, formatTime(lesson.assigned_at)),
        h('td', {}, lesson.finished ? 'Finished' : lesson.ended_at ? `Ended ${formatTime(lesson.ended_at)}` : 'In progress'));
    }))));
}

function flaggedTurn(turn) {
  const flags = Array.isArray(turn.flags) ? turn.flags : [];
  return h('li', { class: 'turn flagged', dataset: { number: String(turn.number ?? '') } },
    h('div', { class: 'turn-meta' },
      h('span', {}, `#${turn.number ?? '?'}`),
      h('span', {}, formatTime(turn.started_at || turn.at)),
      flags.map((flag) => h('span', { class: 'flag-badge' }, flag.category || flag.verdict || 'flagged'))),
    h('p', { class: 'turn-child' }, h('span', { class: 'who' }, 'Child'), h('span', { class: 'words' }, turn.transcript || '(nothing heard)')),
    turn.reply ? h('p', { class: 'turn-reply' }, h('span', { class: 'who' }, 'Hootkit'), h('span', { class: 'words' }, turn.reply)) : null);
}

async function deleteData() {
  const base = basePath();
  if (!base) return;
  const name = targetName();
  if (!window.confirm(`Delete all conversations, sessions and lesson records of ${name}? This cannot be undone.`)) return;
  const button = $('#report-delete');
  button.disabled = true;
  try {
    const { deleted = {} } = await api.del(`${base}/data`);
    toast(`Deleted ${deleted.turns ?? 0} turns, ${deleted.sessions ?? 0} sessions and ${deleted.assignments ?? 0} lesson records of ${name}.`, 'ok');
    await loadReport();
  } finally {
    button.disabled = false;
  }
}
