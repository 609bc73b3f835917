/** The Devices view: a card per device, grouped by class, with teacher controls; live events update cards in place. */

import { api, path } from './api.js';
import { $, clear, h, toast, formatTime, quizTicks } from './dom.js';
import {
  state, isRole, loadDevices, loadClasses, loadLessons, lessonOptions, lessonTitle, deviceName, className,
} from './state.js';
import { openTranscript } from './transcript.js';
import { callTool, fillTools, toolsBox } from './device_tools.js';

const DONE = { pause: 'Paused', resume: 'Resumed', stop: 'Stopped' };
const VOLUME_TOOL = 'self.audio_speaker.set_volume'; // XiaoZhi boards' speaker volume (an MCP tool)
const staff = () => isRole('admin', 'teacher'); // parents watch; they change nothing
const cards = new Map(); // device_id -> its card element
let reloadTimer = null;

/** Wires the view's buttons once; cards are rebuilt, the listener on their container stays. */
export function initDevices() {
  $('#device-groups').addEventListener('click', onClick);
  $('#devices-refresh').addEventListener('click', () => showDevices().catch((error) => toast(error.message, 'error')));
}

export async function showDevices() {
  await Promise.all([loadDevices(), loadClasses(), loadLessons()]);
  renderGroups();
  renderLessonProblems();
}

// -- live updates ----------------------------------------------------------------------------

export function applyDeviceEvent(event) {
  const device = state.devices.get(event.device_id);
  if (!device) {
    scheduleReload(); // a device we have not seen: newly paired or first connection
    return;
  }
  for (const key of ['online', 'activity', 'paused']) {
    if (key in event) device[key] = event[key];
  }
  refreshCard(device);
}

export function applyLessonEvent(event) {
  const device = state.devices.get(event.device_id);
  if (!device) return scheduleReload();
  device.lesson = event.lesson || null;
  refreshCard(device);
}

export function applyTurnEvent(event) {
  const device = state.devices.get(event.device_id);
  if (!device || !Array.isArray(event.flags) || !event.flags.length) return;
  device.flags = [...(device.flags || []), ...event.flags.map((flag) => ({ turn: event.number, ...flag }))];
  refreshCard(device);
}

function refreshCard(device) {
  const card = cards.get(device.device_id);
  if (card) fillCard(card, device);
}

/** Reloads the device list soon (once for a burst of news): a device was paired, or live news was lost. */
export function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    const visible = !$('#view-devices').hidden;
    (visible ? showDevices() : loadDevices()).catch(() => {});
  }, 400);
}

// -- rendering -------------------------------------------------------------------------------

function renderGroups() {
  const root = $('#device-groups');
  const chosen = choicesMade(root);
  clear(root);
  cards.clear();
  if (!state.devices.size) root.append(emptyNote());
  for (const group of groupByClass()) root.append(groupSection(group));
  for (const [selector, value] of chosen) {
    const input = root.querySelector(selector);
    if (input) input.value = value;
  }
}

const KEPT = ['.assign select', '.class-volume input'];

/** What a teacher had picked but not yet sent (a lesson, a class volume), so a refresh does not lose it. */
function choicesMade(root) {
  const chosen = new Map();
  for (const kept of KEPT) {
    for (const input of root.querySelectorAll(kept)) {
      const owner = input.closest('[data-device-id], [data-class-id]');
      if (!input.value || !owner) continue;
      const key = owner.dataset.deviceId !== undefined
        ? `[data-device-id="${CSS.escape(owner.dataset.deviceId)}"]`
        : `.class-head[data-class-id="${CSS.escape(owner.dataset.classId)}"]`;
      chosen.set(`${key} ${kept}`, input.value);
    }
  }
  return chosen;
}

function groupByClass() {
  const groups = new Map(state.classes.map((item) => [String(item.id), { id: item.id, name: item.name, devices: [] }]));
  const loose = { id: null, name: 'Not in a class', devices: [] };
  for (const device of state.devices.values()) {
    if (device.class_id === null || device.class_id === undefined) {
      loose.devices.push(device);
      continue;
    }
    const key = String(device.class_id);
    if (!groups.has(key)) groups.set(key, { id: device.class_id, name: device.class_name || `Class ${key}`, devices: [] });
    groups.get(key).devices.push(device);
  }
  const list = [...groups.values()];
  if (loose.devices.length) list.push(loose);
  for (const group of list) group.devices.sort((a, b) => label(a).localeCompare(label(b)));
  return list;
}

function emptyNote() {
  return h('div', { class: 'empty' },
    h('p', {}, 'No devices yet.'),
    isRole('admin', 'teacher') ? h('p', {}, h('a', { href: '#pair', class: 'button primary' }, 'Pair a device')) : null);
}

function groupSection(group) {
  const section = h('section', { class: 'class-group', 'aria-label': group.name });
  const head = h('div', { class: 'class-head', dataset: group.id === null ? {} : { classId: String(group.id) } },
    h('h2', {}, group.name, h('span', { class: 'count' }, ` · ${group.devices.length} device${group.devices.length === 1 ? '' : 's'}`)));
  if (group.id !== null && group.devices.length && isRole('admin', 'teacher')) head.append(classControls(group));
  section.append(head);
  if (!group.devices.length) {
    section.append(h('p', { class: 'muted' }, 'No devices in this class yet.'));
    return section;
  }
  const grid = h('div', { class: 'device-grid' });
  for (const device of group.devices) {
    const card = deviceCard(device);
    cards.set(device.device_id, card);
    grid.append(card);
  }
  section.append(grid);
  return section;
}

function classControls(group) {
  const withVolume = group.devices.some((device) => (device.tools || []).includes(VOLUME_TOOL));
  return h('div', { class: 'class-controls' },
    h('div', { class: 'controls' },
      button('pause-class', 'Pause class'), button('resume-class', 'Resume class'), button('stop-class', 'Stop class', 'danger')),
    withVolume ? h('div', { class: 'class-volume' },
      h('label', { for: `class-volume-${group.id}` }, 'Volume'),
      h('input', { type: 'range', id: `class-volume-${group.id}`, min: 0, max: 100, step: 1, value: 50, 'data-testid': 'class-volume' }),
      button('class-volume', 'Set for class', 'small', 'class-volume-submit')) : null,
    h('div', { class: 'assign' },
      h('select', { 'data-testid': 'assign-class-lesson', class: 'assign-class-lesson', 'aria-label': `Lesson for class ${group.name}` },
        lessonOptions()),
      button('assign-class', 'Assign to class', 'primary', 'assign-class-submit')));
}

function deviceCard(device) {
  const name = label(device);
  return fillCard(h('article', { class: 'device-card', 'data-testid': 'device-card', dataset: { deviceId: device.device_id } },
    h('header', { class: 'card-head' },
      h('span', { class: 'online-dot', 'data-testid': 'online-dot' }),
      h('div', { class: 'card-title' }, h('h3', { class: 'device-name' }), h('p', { class: 'meta device-meta' })),
      h('span', { class: 'activity', 'data-testid': 'activity' })),
    h('div', { class: 'lesson-progress', 'data-testid': 'lesson-progress' }),
    h('div', { class: 'flags', 'data-testid': 'flags' }),
    toolsBox(staff()),
    staff() ? h('div', { class: 'controls' }, button('pause', 'Pause'), button('resume', 'Resume'), button('stop', 'Stop', 'danger')) : null,
    staff() ? h('div', { class: 'assign' },
      h('select', { class: 'assign-lesson', 'data-testid': 'assign-lesson', 'aria-label': `Lesson for ${name}` }, lessonOptions()),
      button('assign', 'Assign', 'primary', 'assign-submit')) : null,
    h('div', { class: 'card-links' },
      button('transcript', 'Transcript', 'quiet', 'open-transcript'),
      h('a', { class: 'button quiet', 'data-testid': 'open-report', href: `#reports/device/${encodeURIComponent(device.device_id)}` }, 'Report'),
      staff() && device.paired ? button('forget', 'Forget', 'danger', 'forget-device') : null)),
  device);
}

/** Writes a device's changing parts into its card; the card itself and its lesson picker stay. */
function fillCard(card, device) {
  const activity = device.activity || (device.online ? 'idle' : 'offline');
  const paused = Boolean(device.paused) || activity === 'paused';
  card.dataset.activity = activity;
  card.dataset.online = device.online ? 'true' : 'false';
  card.classList.toggle('is-offline', !device.online);
  card.querySelector('.device-name').textContent = label(device);
  const where = device.class_name || className(device.class_id);
  card.querySelector('.device-meta').textContent = where ? `${device.device_id} · ${where}` : device.device_id;
  const dot = card.querySelector('.online-dot');
  dot.classList.toggle('online', Boolean(device.online));
  dot.title = device.online ? 'Online' : `Offline${device.last_seen ? ` · last seen ${formatTime(device.last_seen)}` : ''}`;
  dot.setAttribute('aria-label', dot.title);
  dot.setAttribute('role', 'img');
  const activityBadge = card.querySelector('.activity');
  activityBadge.textContent = activity;
  activityBadge.dataset.activity = activity;
  card.querySelector('[data-action="pause"]')?.setAttribute('aria-pressed', String(paused));
  fillLesson(card.querySelector('.lesson-progress'), device.lesson);
  fillFlags(card.querySelector('.flags'), device.flags || []);
  fillTools(card.querySelector('.device-tools'), device, staff());
  return card;
}

function fillLesson(box, lesson) {
  clear(box);
  if (!lesson) {
    box.append(h('p', { class: 'muted' }, 'No lesson running'));
    return;
  }
  const steps = Number(lesson.steps) || 0;
  const step = Math.min(Number(lesson.step) || 0, steps);
  const where = lesson.finished ? 'Finished' : step ? `Step ${step}/${steps}` : `Starting · ${steps} steps`;
  box.append(
    h('div', { class: 'lesson-line' },
      h('strong', { class: 'lesson-title' }, lesson.title || lessonTitle(lesson.lesson)),
      h('span', { class: 'lesson-step', 'data-testid': 'lesson-step' }, where)),
    h('progress', { max: String(steps || 1), value: String(lesson.finished ? steps : step), 'aria-label': 'Lesson progress' }),
    h('div', { class: 'lesson-line' },
      lesson.quiz && lesson.quiz.length ? h('span', { class: 'quiz-line' }, 'Quiz ', quizTicks(lesson.quiz)) : h('span'),
      staff() ? button('end-lesson', 'End lesson', 'quiet small') : h('span')));
}

function fillFlags(box, flags) {
  clear(box);
  const count = h('span', { class: 'flag-count', 'data-testid': 'flag-count' }, String(flags.length));
  box.classList.toggle('has-flags', flags.length > 0);
  if (!flags.length) {
    box.append(h('p', { class: 'muted' }, count, ' safety flags'));
    return;
  }
  box.append(h('details', {},
    h('summary', {}, count, ` safety flag${flags.length === 1 ? '' : 's'} — show`),
    h('ul', { class: 'flag-list' }, flags.map((flag) => h('li', {},
      h('span', { class: 'flag-badge' }, flag.category || flag.verdict || 'flagged'),
      ` turn ${flag.turn ?? '?'} · ${flag.stage || ''}${flag.verdict ? ` · ${flag.verdict}` : ''}`,
      flag.text ? h('q', {}, flag.text) : null)))));
}

function renderLessonProblems() {
  const box = $('#lesson-problems');
  const problems = state.lessonProblems || [];
  box.hidden = !problems.length || !isRole('admin', 'teacher');
  box.querySelector('summary').textContent = `${problems.length} lesson file${problems.length === 1 ? ' has' : 's have'} problems`;
  clear(box.querySelector('ul')).append(...problems.map((problem) => h('li', {}, describeProblem(problem))));
}

function describeProblem(problem) {
  if (typeof problem === 'string') return problem;
  const where = problem.path || problem.file || problem.lesson || problem.id || '';
  const what = problem.error || problem.message || problem.detail || JSON.stringify(problem);
  return where ? `${where}: ${what}` : what;
}

// -- actions ---------------------------------------------------------------------------------

async function onClick(event) {
  const target = event.target.closest('button[data-action]');
  if (!target) return;
  const action = target.dataset.action;
  const card = target.closest('[data-device-id]');
  const classHead = target.closest('.class-head[data-class-id]');
  target.disabled = true;
  try {
    if (card) await deviceAction(action, card.dataset.deviceId, card, target);
    else if (classHead) await classAction(action, classHead.dataset.classId, classHead);
  } catch (error) {
    toast(error.message, 'error');
  } finally {
    target.disabled = false;
  }
}

async function deviceAction(action, deviceId, card, target) {
  if (action in DONE) {
    const data = await api.post(path`/api/devices/${deviceId}/control`, { command: action });
    applyControlResult(data, action);
    toast(`${DONE[action]} ${deviceName(deviceId)}.`);
  } else if (action === 'assign') {
    await assign(card.querySelector('.assign select').value, { devices: [deviceId] });
  } else if (action === 'end-lesson') {
    await api.del(path`/api/devices/${deviceId}/lesson`);
    const device = state.devices.get(deviceId);
    if (device) {
      device.lesson = null;
      refreshCard(device);
    }
    toast(`Ended the lesson on ${deviceName(deviceId)}.`);
  } else if (action === 'call-tool') {
    await callTool(deviceId, target);
  } else if (action === 'transcript') {
    await openTranscript(deviceId);
  } else if (action === 'forget') {
    const name = deviceName(deviceId);
    if (!window.confirm(`Forget ${name}? Its token stops working: when it next connects it asks to be paired again. Its records stay.`)) return;
    await api.del(path`/api/devices/${deviceId}`);
    toast(`Forgot ${name}.`);
    await showDevices();
  }
}

async function classAction(action, classId, head) {
  const command = action.replace(/-class$/, '');
  const name = className(classId) || `class ${classId}`;
  if (command in DONE) {
    const data = await api.post(path`/api/classes/${classId}/control`, { command });
    applyControlResult(data, command);
    toast(`${DONE[command]} ${name} (${(data.devices || []).length} devices).`);
  } else if (action === 'class-volume') {
    const volume = parseInt(head.querySelector('[data-testid=class-volume]').value, 10);
    const data = await api.post(path`/api/classes/${classId}/tools/${VOLUME_TOOL}`, { arguments: { volume } });
    const set = data.devices.filter((item) => item.called).length;
    toast(`Volume ${volume} set on ${plural(set, 'device')} of ${name} (${data.devices.length} in the class).`, set ? 'ok' : 'error');
  } else if (action === 'assign-class') {
    await assign(head.querySelector('.assign select').value, { classes: [Number(classId)] });
  }
}

function applyControlResult(data, command) {
  for (const item of data.devices || []) {
    const device = state.devices.get(item.device_id);
    if (!device) continue;
    if (item.activity) device.activity = item.activity;
    if ('online' in item) device.online = item.online;
    device.paused = command !== 'resume';
    refreshCard(device);
  }
}

async function assign(lessonId, target) {
  if (!lessonId) {
    toast('Choose a lesson first.', 'error');
    return;
  }
  const data = await api.post(path`/api/lessons/${lessonId}/assign`, { devices: [], classes: [], ...target });
  const results = data.devices || [];
  const started = results.filter((item) => item.started && !item.error);
  const waiting = results.filter((item) => !item.started && !item.error);
  const failed = results.filter((item) => item.error);
  const words = [`“${lessonTitle(lessonId)}”:`];
  if (started.length) words.push(`started on ${plural(started.length, 'device')}.`);
  if (waiting.length) words.push(`${plural(waiting.length, 'device')} will start when switched on.`);
  if (!results.length) words.push('no devices to assign to.');
  for (const item of failed) words.push(`${deviceName(item.device_id)}: ${item.error}.`);
  toast(words.join(' '), failed.length || !results.length ? 'error' : 'ok');
}

function button(action, text, kind = '', testId = undefined) {
  return h('button', { type: 'button', class: kind, dataset: { action }, 'data-testid': testId }, text);
}

function label(device) {
  return device.name || device.device_id;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
