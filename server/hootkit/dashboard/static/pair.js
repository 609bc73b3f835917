/** The Pair view: a teacher types the 6-digit code a device shows, picks a class and a name; and sees who waits. */

import { api } from './api.js';
import { $, clear, formatMinutes, h, showResult, toast } from './dom.js';
import { state, loadClasses, loadDevices } from './state.js';

export function initPair() {
  const code = $('#pair-code');
  code.addEventListener('input', () => {
    const digits = code.value.replace(/\D/g, '').slice(0, 6);
    if (digits !== code.value) code.value = digits;
  });
  $('#pair-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pair();
  });
}

export async function showPair() {
  await loadClasses();
  const select = $('#pair-class');
  const before = select.value;
  clear(select).append(...state.classes.map((item) => h('option', { value: String(item.id) }, item.name)));
  if (!state.classes.length) {
    select.append(h('option', { value: '' }, 'Create a class first'));
    showResult($('#pair-result'), 'A device is paired into a class. Create a class first (Classes).', 'error');
  } else if ($('#pair-result').classList.contains('error')) {
    showResult($('#pair-result'), '');
  }
  if ([...select.options].some((option) => option.value === before)) select.value = before;
  $('#pair-code').focus();
  await showWaiting();
}

/** The devices waiting with a code (never the code: it proves the teacher is beside the device). */
async function showWaiting() {
  const list = clear($('#pair-waiting'));
  let waiting = [];
  try {
    waiting = (await api.get('/api/pairing')).waiting;
  } catch (error) {
    list.append(h('li', { class: 'error' }, error.message));
    return;
  }
  if (!waiting.length) list.append(h('li', { class: 'muted' }, 'No device is waiting.'));
  for (const item of waiting) {
    const how = item.via === 'connection' ? 'connected' : 'XiaoZhi, asking by OTA';
    list.append(h('li', { dataset: { deviceId: item.device_id } },
      h('span', {}, `${item.device_id} from ${item.address || 'unknown address'} (${how}, waiting ${formatMinutes(item.waiting_s)})`),
      h('button', { type: 'button', class: 'danger', dataset: { testid: 'turn-away' }, onclick: () => turnAway(item) }, 'Turn away')));
  }
}

async function turnAway(item) {
  if (!window.confirm(`Turn away ${item.device_id}? Its code stops working, its connection ends, and it gets no new code for 10 minutes.`)) return;
  try {
    // the id is the device's own claim: only the one waiting from this address is turned away
    await api.del(`/api/pairing?device_id=${encodeURIComponent(item.device_id)}&address=${encodeURIComponent(item.address)}`);
    toast(`Turned away ${item.device_id}.`);
  } catch (error) {
    toast(error.message, 'error');
  }
  await showWaiting();
}

async function pair() {
  const result = $('#pair-result');
  const code = $('#pair-code').value.trim();
  if (!/^\d{6}$/.test(code)) {
    showResult(result, 'The code has 6 digits. It is shown on the device and spoken by it.', 'error');
    return;
  }
  const classValue = $('#pair-class').value;
  if (!classValue) {
    showResult(result, 'Choose a class for the device (create one under Classes first).', 'error');
    return;
  }
  const body = { code, class_id: Number(classValue), name: $('#pair-name').value.trim() };
  const submit = $('#pair-submit');
  submit.disabled = true;
  showResult(result, '');
  try {
    const device = await api.post('/api/pair', body);
    const where = state.classes.find((item) => String(item.id) === String(device.class_id));
    showResult(result,
      `Paired “${device.name || device.device_id}” (${device.device_id})${where ? ` in ${where.name}` : ''}. It can talk now.`);
    $('#pair-code').value = '';
    $('#pair-name').value = '';
    loadDevices().catch(() => {});
    showWaiting().catch(() => {});
  } catch (error) {
    showResult(result, error.status === 404 && error.message === 'Not found.' ? 'No device is waiting with that code.' : error.message, 'error');
  } finally {
    submit.disabled = false;
  }
}
