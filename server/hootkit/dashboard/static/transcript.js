/** The transcript panel: one device's turns, oldest first; live turns are appended and flagged turns marked. */

import { api, path } from './api.js';
import { $, clear, h, formatTime } from './dom.js';
import { deviceName, state } from './state.js';

let openDevice = null; // the device whose transcript is shown, or null
let loading = false;
let pending = []; // live turns that arrived while the stored ones were loading
const shown = new Set(); // keys of turns already in the panel

export function initTranscript() {
  $('#transcript-close').addEventListener('click', closeTranscript);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && openDevice) closeTranscript();
  });
}

export async function openTranscript(deviceId) {
  openDevice = deviceId;
  loading = true;
  pending = [];
  shown.clear();
  const panel = $('#transcript-panel');
  const box = $('#transcript');
  panel.hidden = false;
  panel.dataset.deviceId = deviceId;
  $('#transcript-title').textContent = `Transcript · ${deviceName(deviceId)}`;
  const device = state.devices.get(deviceId);
  $('#transcript-device').textContent = device && device.class_name ? `${deviceId} · ${device.class_name}` : deviceId;
  clear(box).append(h('p', { class: 'muted transcript-note' }, 'Loading…'));
  let turns;
  try {
    turns = (await api.get(path`/api/devices/${deviceId}/transcript`)).turns || [];
  } catch (error) {
    if (openDevice === deviceId) clear(box).append(h('p', { class: 'form-error transcript-note' }, error.message));
    loading = false;
    return;
  }
  if (openDevice !== deviceId) return; // another device was opened meanwhile
  loading = false;
  clear(box);
  for (const turn of [...turns, ...pending]) addTurn(turn);
  pending = [];
  if (!shown.size) box.append(h('p', { class: 'muted transcript-note' }, 'No conversation yet.'));
  box.scrollTop = box.scrollHeight;
  $('#transcript-close').focus();
}

export function closeTranscript() {
  openDevice = null;
  $('#transcript-panel').hidden = true;
}

/** A live `turn` event: appended when its device's transcript is open. */
export function appendLiveTurn(event) {
  if (event.device_id !== openDevice) return;
  if (loading) {
    pending.push(event);
    return;
  }
  const box = $('#transcript');
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.querySelector('.transcript-note')?.remove();
  addTurn(event);
  if (nearBottom) box.scrollTop = box.scrollHeight;
}

function addTurn(turn) {
  const key = JSON.stringify([turn.number, turn.transcript || '', turn.reply || '']); // numbers restart each session
  if (shown.has(key)) return;
  shown.add(key);
  $('#transcript').append(turnElement(turn));
}

function turnElement(turn) {
  const flags = Array.isArray(turn.flags) ? turn.flags : [];
  const categories = [...new Set(flags.map((flag) => flag.category || flag.verdict || 'flagged'))];
  return h('article', { class: flags.length ? 'turn flagged' : 'turn', 'data-testid': 'turn', dataset: { number: String(turn.number) } },
    h('div', { class: 'turn-meta' },
      h('span', {}, `#${turn.number}`),
      turn.at ? h('time', { datetime: turn.at }, formatTime(turn.at)) : null,
      turn.outcome ? h('span', { class: 'outcome' }, turn.outcome) : null,
      turn.error ? h('span', { class: 'turn-error', 'data-testid': 'turn-error' }, turn.error) : null,
      categories.map((category) => h('span', { class: 'flag-badge', 'data-testid': 'flag-category' }, category))),
    turn.asked === false
      ? null  // Hootkit spoke unasked: a lesson's opening, a nudge, a teacher's pause
      : h('p', { class: 'turn-child' },
        h('span', { class: 'who' }, 'Child'),
        turn.transcript ? h('span', { class: 'words' }, turn.transcript) : h('span', { class: 'words muted' }, '(nothing heard)')),
    turn.reply
      ? h('p', { class: 'turn-reply' }, h('span', { class: 'who' }, 'Hootkit'), h('span', { class: 'words' }, turn.reply))
      : null,
    flags.length
      ? h('ul', { class: 'turn-flags' }, flags.map((flag) => h('li', {},
        `${flag.stage || 'check'}: ${flag.category || ''}${flag.verdict ? ` (${flag.verdict})` : ''}`,
        flag.text ? h('q', {}, flag.text) : null)))
      : null);
}
