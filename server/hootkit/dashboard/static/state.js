/** What the dashboard knows: the signed-in user, devices, classes and lessons, loaded from the API. */

import { api } from './api.js';
import { h } from './dom.js';

export const state = {
  user: null, // {id, username, role}
  devices: new Map(), // device_id -> device as in GET /api/devices
  classes: [], // [{id, name, teacher, devices: [device_id]}]
  lessons: [], // [{id, title, language, voice, ages, minutes, steps}]
  lessonProblems: [],
};

export function isRole(...roles) {
  return Boolean(state.user && roles.includes(state.user.role));
}

export async function loadDevices() {
  const data = await api.get('/api/devices');
  state.devices = new Map((data.devices || []).map((device) => [device.device_id, device]));
  return state.devices;
}

export async function loadClasses() {
  const data = await api.get('/api/classes');
  state.classes = data.classes || [];
  return state.classes;
}

export async function loadLessons() {
  const data = await api.get('/api/lessons');
  state.lessons = data.lessons || [];
  state.lessonProblems = data.problems || [];
  return state.lessons;
}

export function deviceName(deviceId) {
  const device = state.devices.get(deviceId);
  return (device && device.name) || deviceId;
}

export function className(classId) {
  const found = state.classes.find((item) => String(item.id) === String(classId));
  return found ? found.name : '';
}

export function lessonTitle(lessonId) {
  const found = state.lessons.find((item) => item.id === lessonId);
  return found ? found.title : lessonId;
}

/** <option>s for a lesson <select>, with a first "choose" entry. */
export function lessonOptions() {
  return [
    h('option', { value: '' }, state.lessons.length ? 'Choose a lesson…' : 'No lessons available'),
    ...state.lessons.map((lesson) => h('option', { value: lesson.id }, lessonLabel(lesson))),
  ];
}

function lessonLabel(lesson) {
  const details = [];
  if (lesson.minutes) details.push(`${lesson.minutes} min`);
  if (lesson.ages) details.push(`ages ${Array.isArray(lesson.ages) ? lesson.ages.join('–') : lesson.ages}`);
  return details.length ? `${lesson.title} (${details.join(', ')})` : lesson.title;
}
