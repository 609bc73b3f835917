/**
 * The browser device ("try Hootkit without hardware"): the Hootkit device protocol over one websocket,
 * with the microphone streaming 20 ms PCM16 frames at 16 kHz and the speaker playing the replies.
 *
 * Query: ?device_id=<id> (else one generated once and kept in localStorage), ?autostart=1 (listen at once).
 * Test hooks: #status (text; data-state = connecting | closed | pairing | paused | stopped | speaking |
 * thinking | listening | ready), #heard, #said, #pairing-code, #alert, #talk, #lesson, and
 * window.hootStats = {audioBytes, replies, heard: [], said: [], state, deviceId}.
 */

import { Microphone, MIC_RATE, FRAME_MS } from './microphone.js';
import { Speaker } from './speaker.js';

const CLOSE_REASONS = {
  1000: 'the server ended the conversation',
  1001: 'the server is going away',
  1006: 'the connection to the server was lost',
  1011: 'the server had a problem',
  1013: 'the server is still loading',
  4001: 'this device is not allowed to connect',
  4002: "the server cannot use this browser's audio",
  4003: 'the server did not get a hello in time',
  4004: 'too many bad messages',
};
const NO_RETRY = new Set([4002]); // retrying would fail the same way
const MAX_RETRY_MS = 30000;
const MAX_BUFFERED = 256 * 1024; // stop queueing mic frames when the network stalls

const STATUS_WORDS = {
  connecting: () => 'connecting…',
  closed: () => `connection closed: ${device.closedWhy}${device.retryInS ? `. Trying again in ${device.retryInS} s…` : '.'}`,
  pairing: () => `a teacher must pair this device: code ${device.pairingCode}`,
  paused: () => 'paused by your teacher',
  stopped: () => 'stopped by your teacher',
  speaking: () => 'speaking',
  thinking: () => 'thinking…',
  listening: () => 'listening',
  ready: () => 'ready: tap the button to talk',
};

const params = new URLSearchParams(location.search);
const deviceId = params.get('device_id') || rememberedDeviceId();
const tokenKey = `hootkit.token.${deviceId}`;
const nameKey = `hootkit.name.${deviceId}`;

const stats = { audioBytes: 0, replies: 0, heard: [], said: [], state: 'connecting', deviceId };
window.hootStats = stats;

const device = {
  socket: null,
  usedToken: false,
  ready: false, // the server answered our hello on this socket
  downlinkRate: MIC_RATE,
  wantListening: false, // the microphone is switched on
  listening: false, // `listen start` was sent on this socket
  speaking: false, // between tts start and tts stop
  thinking: false, // heard words, no reply yet
  turn: null, // the turn number of the reply being spoken
  dropAudio: false, // after an abort or a teacher's pause: ignore audio until the next tts start
  hold: null, // 'pairing' | 'paused' | 'stopped'
  pairingCode: '',
  closedWhy: '',
  retryInS: 0,
  retryDelay: 1000,
  retryTimer: null,
};

const $ = (id) => document.getElementById(id);
const context = new AudioContext({ latencyHint: 'interactive' });
const speaker = new Speaker(context);
const mic = new Microphone(context, onMicFrame);
speaker.onIdle = render;
let alertTimer = null;

// -- connection ------------------------------------------------------------------------------

function connect() {
  clearTimeout(device.retryTimer);
  const token = storage('get', tokenKey);
  const query = new URLSearchParams({ device_id: deviceId });
  if (token) query.set('token', token);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let socket;
  try {
    socket = new WebSocket(`${scheme}//${location.host}/v1/device?${query}`);
  } catch (error) {
    closed(`cannot connect (${error.message}); open this page from the Hootkit server`, null);
    return;
  }
  socket.binaryType = 'arraybuffer';
  device.socket = socket;
  device.usedToken = Boolean(token);
  device.closedWhy = '';
  socket.onopen = () => {
    sendJson({
      type: 'hello',
      version: 1,
      transport: 'websocket',
      audio_params: { format: 'pcm16', sample_rate: MIC_RATE, channels: 1, frame_duration: FRAME_MS },
    });
  };
  socket.onmessage = (message) => {
    if (socket !== device.socket) return;
    if (typeof message.data === 'string') onText(message.data);
    else onAudio(message.data);
  };
  socket.onclose = (event) => {
    if (socket !== device.socket) return;
    onClose(event);
  };
  render();
}

function onClose(event) {
  Object.assign(device, { socket: null, ready: false, listening: false, speaking: false, thinking: false, hold: null });
  speaker.stop();
  $('pairing').hidden = true;
  let why = event.reason || CLOSE_REASONS[event.code] || `it closed (code ${event.code})`;
  if (event.code === 4001 && device.usedToken) {
    storage('remove', tokenKey); // the server no longer knows this pairing: ask for a new code
    why += '; asking to be paired again';
    device.retryDelay = 1000;
  }
  if (NO_RETRY.has(event.code)) {
    closed(why, null);
    return;
  }
  const delay = event.code === 1013 ? 2000 : device.retryDelay;
  device.retryDelay = Math.min(device.retryDelay * 2, MAX_RETRY_MS);
  closed(why, delay);
}

function closed(why, retryMs) {
  device.closedWhy = why;
  device.retryInS = retryMs ? Math.round(retryMs / 1000) : 0;
  if (retryMs) device.retryTimer = setTimeout(connect, retryMs);
  render();
}

function sendJson(event) {
  if (device.socket && device.socket.readyState === WebSocket.OPEN) device.socket.send(JSON.stringify(event));
}

// -- from the server -------------------------------------------------------------------------

function onText(text) {
  let event;
  try {
    event = JSON.parse(text);
  } catch {
    return;
  }
  const handler = HANDLERS[event.type];
  if (handler) handler(event);
  render();
}

const HANDLERS = {
  hello(event) {
    device.ready = true;
    device.downlinkRate = (event.audio_params && event.audio_params.sample_rate) || MIC_RATE;
    device.retryDelay = 1000;
    device.closedWhy = '';
    if (device.wantListening) sendListenStart();
  },
  stt(event) {
    const text = event.text || '';
    stats.heard.push(text);
    $('heard').textContent = text || '…';
    device.thinking = Boolean(text);
  },
  tts(event) {
    if (event.state === 'start') {
      device.dropAudio = false;
      device.speaking = true;
      device.thinking = false;
      device.turn = event.turn ?? null;
      $('said').textContent = '';
    } else if (event.state === 'sentence_start' && event.text) {
      stats.said.push(event.text);
      const said = $('said');
      said.textContent = said.textContent ? `${said.textContent} ${event.text}` : event.text;
    } else if (event.state === 'stop') {
      if (event.turn !== undefined && device.turn !== null && event.turn !== device.turn) return; // an older turn's end
      device.speaking = false;
      device.thinking = false;
      stats.replies += 1;
    }
  },
  llm(event) {
    if (event.emotion) document.body.dataset.emotion = event.emotion;
  },
  alert(event) {
    if (event.code === 'paused' || event.code === 'stopped') device.hold = event.code;
    showAlert(event.message || event.code || 'Notice', event.status || 'info');
  },
  system(event) {
    if (event.command === 'pause' || event.command === 'stop') {
      silence();
      device.hold = event.command === 'pause' ? 'paused' : 'stopped';
    } else if (event.command === 'resume') {
      device.hold = null;
    } else if (event.command === 'reboot' && device.socket) {
      device.socket.close(1000, 'reboot');
    }
  },
  lesson(event) {
    const box = $('lesson');
    const title = event.title || 'Lesson';
    const correct = event.correct === true ? ' · ✓ right!' : event.correct === false ? ' · let’s keep trying' : '';
    if (event.state === 'end') box.textContent = `${title}: finished${correct}`;
    else if (event.step) box.textContent = `${title} · step ${event.step} of ${event.steps ?? '?'}${correct}`;
    else box.textContent = `${title}: starting`;
    box.hidden = false;
  },
  pair(event) {
    if (event.state === 'code') {
      device.hold = 'pairing';
      device.pairingCode = event.code || '';
      $('pairing-code').textContent = device.pairingCode;
      $('pairing').hidden = false;
    } else if (event.state === 'paired') {
      if (event.token) storage('set', tokenKey, event.token);
      if (event.name) storage('set', nameKey, event.name);
      $('device-name').textContent = event.name || '';
      device.hold = null;
      $('pairing').hidden = true;
      showAlert('Paired! A teacher added this device to the class.', 'info');
    }
  },
  metrics(event) {
    stats.metrics = event.parts;
  },
};

function onAudio(data) {
  stats.audioBytes += data.byteLength;
  if (device.dropAudio || !device.ready) return;
  speaker.play(data, device.downlinkRate);
}

/** Stops the reply now: what is playing and what is still on its way. */
function silence() {
  device.dropAudio = true;
  device.speaking = false;
  device.thinking = false;
  speaker.stop();
}

// -- the microphone --------------------------------------------------------------------------

function onMicFrame(frame) {
  const socket = device.socket;
  if (!device.listening || !socket || socket.readyState !== WebSocket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED) return;
  // While Hootkit speaks the mic is muted: the stream goes on, as silence, so the server hears no echo.
  socket.send(device.speaking || speaker.playing ? new ArrayBuffer(frame.byteLength) : frame);
}

function sendListenStart() {
  sendJson({ type: 'listen', state: 'start', mode: 'auto' });
  device.listening = true;
}

async function startListening() {
  device.wantListening = true;
  render();
  try {
    await mic.start();
  } catch (error) {
    device.wantListening = false;
    showAlert(micProblem(error), 'error');
    render();
    return;
  }
  await context.resume().catch(() => {});
  if (context.state !== 'running') showAlert('Tap the big button to let Hootkit use sound.', 'warning');
  if (device.ready && device.wantListening && !device.listening) sendListenStart();
  render();
}

function stopListening() {
  device.wantListening = false;
  if (device.listening) sendJson({ type: 'listen', state: 'stop', mode: 'auto' });
  device.listening = false;
  mic.stop();
  render();
}

async function onTalk() {
  if (context.state !== 'running') {
    await context.resume().catch(() => {});
    if (device.wantListening) {
      hideAlert();
      render();
      return; // the click was needed to let sound start; listening goes on
    }
  }
  if (device.speaking || speaker.playing) {
    sendJson({ type: 'abort', reason: 'button' });
    silence();
    render();
  } else if (device.wantListening) {
    stopListening();
  } else {
    await startListening();
  }
}

function micProblem(error) {
  if (error && (error.name === 'NotAllowedError' || error.name === 'SecurityError')) {
    return 'Hootkit may not use the microphone. Allow it in the browser, then tap the button again.';
  }
  if (error && error.name === 'NotFoundError') return 'No microphone was found.';
  return `The microphone did not start: ${error && error.message ? error.message : error}`;
}

// -- the page --------------------------------------------------------------------------------

function currentState() {
  if (!device.ready) return device.closedWhy ? 'closed' : 'connecting';
  if (device.hold) return device.hold;
  if (device.speaking || speaker.playing) return 'speaking';
  if (device.thinking) return 'thinking';
  if (device.listening) return 'listening';
  return 'ready';
}

function render() {
  const state = currentState();
  stats.state = state;
  document.body.dataset.state = state;
  const status = $('status');
  status.dataset.state = state;
  status.textContent = STATUS_WORDS[state]();
  const busy = device.speaking || speaker.playing;
  $('talk-label').textContent = busy ? 'Tap to stop Hootkit' : device.wantListening ? 'Tap to stop listening' : 'Tap to talk';
  $('talk').setAttribute('aria-pressed', String(device.wantListening));
}

function showAlert(message, kind) {
  const box = $('alert');
  box.textContent = message;
  box.className = `alert ${kind}`;
  box.hidden = false;
  clearTimeout(alertTimer);
  if (kind !== 'error') alertTimer = setTimeout(hideAlert, 10000);
}

function hideAlert() {
  $('alert').hidden = true;
}

function rememberedDeviceId() {
  let id = storage('get', 'hootkit.device_id');
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(3));
    id = `browser-${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`;
    storage('set', 'hootkit.device_id', id);
  }
  return id;
}

/** localStorage that never throws (private windows and file:// pages may refuse it). */
function storage(action, key, value) {
  try {
    if (action === 'get') return localStorage.getItem(key);
    if (action === 'set') localStorage.setItem(key, value);
    if (action === 'remove') localStorage.removeItem(key);
  } catch {
    // nothing kept: the device simply pairs again next time
  }
  return null;
}

$('device-id').textContent = deviceId;
$('device-name').textContent = storage('get', nameKey) || '';
$('talk').addEventListener('click', () => onTalk().catch((error) => showAlert(String(error), 'error')));
connect();
if (params.get('autostart') === '1') startListening();
