/** The Settings view (admins): how long data is kept, whether voice recordings are kept, and the audit log. */

import { api } from './api.js';
import { $, clear, h, showResult, toast, formatTime } from './dom.js';

export function initSettings() {
  $('#retention-form').addEventListener('submit', (event) => {
    event.preventDefault();
    saveRetention();
  });
  $('#audit-refresh').addEventListener('click', () => loadAudit().catch((error) => toast(error.message, 'error')));
}

export async function showSettings() {
  showResult($('#retention-result'), '');
  const [retention] = await Promise.all([api.get('/api/retention'), loadAudit()]);
  $('#retention-days').value = retention.days ?? '';
  $('#retention-audio').checked = Boolean(retention.keep_audio);
}

async function saveRetention() {
  const result = $('#retention-result');
  const days = Number($('#retention-days').value);
  if (!Number.isFinite(days) || days <= 0 || days > 3650) {
    showResult(result, 'Type a number of days between 1 and 3650.', 'error');
    return;
  }
  const keepAudio = $('#retention-audio').checked;
  const button = $('#retention-save');
  button.disabled = true;
  try {
    const saved = await api.put('/api/retention', { days, keep_audio: keepAudio });
    const savedDays = saved && saved.days !== undefined ? saved.days : days;
    showResult(result, `Saved. Conversations older than ${savedDays} days are deleted automatically; `
      + `voice recordings are ${(saved && saved.keep_audio !== undefined ? saved.keep_audio : keepAudio) ? 'kept' : 'not kept'}.`);
    await loadAudit();
  } catch (error) {
    showResult(result, error.message, 'error');
  } finally {
    button.disabled = false;
  }
}

async function loadAudit() {
  const events = (await api.get('/api/audit')).events || [];
  const body = clear($('#audit-table tbody'));
  if (!events.length) {
    body.append(h('tr', {}, h('td', { colspan: '7', class: 'muted' }, 'Nothing logged yet.')));
    return;
  }
  for (const event of events) {
    body.append(h('tr', { class: event.ok ? '' : 'failed' },
      h('td', {}, h('time', { datetime: event.at }, formatTime(event.at))),
      h('td', {}, event.actor || ''),
      h('td', {}, event.action || ''),
      h('td', {}, event.target || ''),
      h('td', { 'aria-label': event.ok ? 'yes' : 'no' }, event.ok ? '✓' : '✗'),
      h('td', { class: 'detail' }, event.detail || ''),
      h('td', {}, event.ip || '')));
  }
}
