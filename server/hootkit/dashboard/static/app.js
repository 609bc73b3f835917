/**
 * Hootkit teacher dashboard: sign-in, navigation between views, and live updates from /api/live.
 *
 * Test ids (unique controls have the same value as `id` and `data-testid`):
 *   Sign-in:    #login-username  #login-password  #login-submit  #login-error (hidden until an error)
 *   Header:     #nav-devices #nav-pair #nav-classes #nav-reports #nav-settings (links to #devices, #pair, ...;
 *               a nav link the role may not use is hidden), #whoami, #logout,
 *               #live-status (data-state = on | connecting | reconnecting | off)
 *   Views:      section#view-<name> (hidden unless current); messages appear in #toast as .toast-item.ok|.error|.info
 *   Devices:    #devices-refresh, #device-groups
 *               article.device-card[data-device-id="<id>"][data-activity="<activity>"][data-online="true|false"]
 *                 .activity (text = the activity word: listening, thinking, speaking, paused, offline, ...)
 *                 .online-dot (.online when online), .lesson-progress ([data-testid=lesson-step] "Step n/m"),
 *                 .quiz (.tick / .cross per answer), .flag-count (number of safety flags)
 *                 button[data-action="pause|resume|stop|assign|end-lesson|transcript"]
 *                 select[data-testid="assign-lesson"]  button[data-testid="assign-submit"]  a[data-testid="open-report"]
 *               .class-head[data-class-id="<id>"]: button[data-action="pause-class|resume-class|stop-class"],
 *                 select[data-testid="assign-class-lesson"], button[data-testid="assign-class-submit"]
 *   Transcript: #transcript-panel[data-device-id], #transcript-close,
 *               #transcript > article.turn[data-number="<n>"] (.flagged when flagged; .flag-badge = category;
 *               .turn-child .words = the child's words, .turn-reply .words = Hootkit's reply)
 *   Pair:       #pair-code  #pair-class  #pair-name  #pair-submit  #pair-result (.ok or .error)
 *   Classes:    #class-name  #class-submit  #class-result  #classes-table tr[data-class-id]
 *   Reports:    #report-target (values "class:<id>" / "device:<id>"; address #reports/device/<id> or #reports/class/<id>),
 *               #report-export-csv  #report-export-json  #report-delete (asks confirm()),
 *               #report > section.report-device[data-device-id] (dl.stats), section.report-summary for a class
 *   Settings:   #retention-days  #retention-audio  #retention-save  #retention-result  #audit-refresh  #audit-table
 */

import { api, setCsrf, whenUnauthorized } from './api.js';
import { $, toast } from './dom.js';
import { state, isRole } from './state.js';
import {
  initDevices, showDevices, applyDeviceEvent, applyLessonEvent, applyTurnEvent, scheduleReload,
} from './devices.js';
import { initTranscript, appendLiveTurn, closeTranscript } from './transcript.js';
import { initPair, showPair } from './pair.js';
import { initClasses, showClasses } from './classes.js';
import { initReports, showReports } from './reports.js';
import { initSettings, showSettings } from './settings.js';

const VIEWS = {
  devices: { show: showDevices, roles: null },
  pair: { show: showPair, roles: ['admin', 'teacher'] },
  classes: { show: showClasses, roles: ['admin', 'teacher'] },
  reports: { show: showReports, roles: null },
  settings: { show: showSettings, roles: ['admin'] },
};

let live = null; // the EventSource while signed in
let liveRetry = null;
let liveBroke = false;

async function boot() {
  initDevices();
  initTranscript();
  initPair();
  initClasses();
  initReports();
  initSettings();
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  whenUnauthorized(() => signedOut('Your session has ended. Please sign in again.'));
  try {
    signedIn(await api.get('/api/me', { expect401: true }));
  } catch (error) {
    signedOut(error.status === 401 ? '' : `Hootkit could not check your sign-in: ${error.message}`);
  }
}

// -- signing in and out ----------------------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  const username = $('#login-username').value.trim();
  const password = $('#login-password').value;
  if (!username || !password) {
    showLoginError('Type your username and password.');
    return;
  }
  const submit = $('#login-submit');
  submit.disabled = true;
  showLoginError('');
  try {
    signedIn(await api.post('/api/login', { username, password }, { expect401: true }));
    $('#login-password').value = '';
  } catch (error) {
    showLoginError(error.message);
    $('#login-password').select();
  } finally {
    submit.disabled = false;
  }
}

function signedIn({ user, csrf }) {
  state.user = user;
  setCsrf(csrf);
  $('#boot').hidden = true;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#whoami').textContent = `${user.username} · ${user.role}`;
  for (const link of document.querySelectorAll('.nav a[data-roles]')) {
    link.hidden = !link.dataset.roles.split(' ').includes(user.role);
  }
  startLive();
  route();
}

function signedOut(message) {
  stopLive();
  closeTranscript();
  state.user = null;
  setCsrf(null);
  $('#boot').hidden = true;
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
  showLoginError(message);
  $('#login-username').focus();
}

async function logout() {
  try {
    await api.post('/api/logout', {}, { expect401: true });
  } catch {
    // signed out here either way
  }
  signedOut('');
}

function showLoginError(message) {
  const box = $('#login-error');
  box.textContent = message || '';
  box.hidden = !message;
}

// -- views -----------------------------------------------------------------------------------

async function route() {
  if (!state.user) return;
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const view = VIEWS[name] && (!VIEWS[name].roles || isRole(...VIEWS[name].roles)) ? name : 'devices';
  if (name && view !== name) history.replaceState(null, '', `#${view}`);
  for (const section of document.querySelectorAll('#main > .view')) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll('.nav a')) {
    if (link.id === `nav-${view}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const argument = rest.map(decodeURIComponent).join('/');
  try {
    await VIEWS[view].show(argument);
  } catch (error) {
    if (error.status !== 401) toast(error.message, 'error');
  }
}

// -- live updates ----------------------------------------------------------------------------

const LIVE_HANDLERS = {
  device: applyDeviceEvent,
  lesson: applyLessonEvent,
  paired: scheduleReload, // a device joined a class: its card appears
  changed: scheduleReload, // renamed, moved to another class, or linked to a parent
  forgotten: scheduleReload, // unpaired by a teacher: its card goes
  reload: scheduleReload, // the server dropped news for us (and closes the stream; the browser reconnects)
  turn: (event) => {
    applyTurnEvent(event);
    appendLiveTurn(event);
  },
};

function startLive() {
  stopLive();
  setLive('connecting');
  const source = new EventSource('/api/live');
  live = source;
  source.onopen = () => {
    setLive('on');
    if (liveBroke && !$('#view-devices').hidden) showDevices().catch(() => {}); // catch up on what was missed
    liveBroke = false;
  };
  source.onerror = () => {
    liveBroke = true;
    setLive('reconnecting');
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. 401 or the server is down): check the session, then try again.
      live = null;
      liveRetry = setTimeout(checkThenRestartLive, 5000);
    }
  };
  for (const [name, handler] of Object.entries(LIVE_HANDLERS)) {
    source.addEventListener(name, (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // not ours to show
      }
      handler(event);
    });
  }
}

async function checkThenRestartLive() {
  liveRetry = null;
  if (!state.user) return;
  try {
    await api.get('/api/me');
    startLive();
  } catch (error) {
    if (error.status !== 401) liveRetry = setTimeout(checkThenRestartLive, 10000);
  }
}

function stopLive() {
  clearTimeout(liveRetry);
  liveRetry = null;
  if (live) live.close();
  live = null;
  setLive('off');
}

function setLive(mode) {
  const words = { on: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', off: 'Offline' };
  const badge = $('#live-status');
  badge.dataset.state = mode;
  badge.textContent = words[mode];
}

boot();
