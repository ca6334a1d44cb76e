// The dashboard's entry: the error banner, the Redis status pill, the admin-token dialog, and the
// three panels. No framework and no build step: the browser loads these modules as they are.
import { api, onHealth, onTokenNeeded } from './api.js';
import { ms } from './format.js';
import { startLive } from './live.js';
import { startLoadTest } from './loadtest.js';
import { startTopPaths } from './top-paths.js';

const $ = (id) => document.getElementById(id);
const HEALTH_MS = 5000;

// Each source (stats, live, jobs, health) reports its outage or its recovery; the banner shows
// while any of them is failing, with the latest message.
const failing = new Map();
onHealth((source, error) => {
  if (error) failing.set(source, error.message);
  else failing.delete(source);
  $('banner').hidden = failing.size === 0;
  $('banner-text').textContent = [...failing.values()].at(-1) ?? '';
});

async function checkHealth() {
  const pill = $('health');
  const text = pill.querySelector('.status-pill__text');
  try {
    const { body } = await api('/health', { source: 'health' });
    pill.dataset.state = 'up';
    text.textContent = 'Redis up';
    pill.title = `Redis answered PING in ${ms(body.redis.latencyMs)} ms`;
  } catch (error) {
    pill.dataset.state = 'down';
    text.textContent = error.status === 0 ? 'Server unreachable' : 'Redis down';
  }
  setTimeout(checkHealth, HEALTH_MS);
}

// One dialog for every 401, however many requests hit it at once.
let asking = null;
let live;
onTokenNeeded((reason) => {
  asking ??= new Promise((resolve) => {
    const dialog = $('token-dialog');
    const input = $('token-input');
    $('token-reason').textContent = reason;
    input.value = '';
    const finish = (value) => {
      dialog.close();
      asking = null;
      resolve(value);
      if (value) live?.reconnect();
    };
    $('token-form').onsubmit = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (value) finish(value);
    };
    $('token-cancel').onclick = () => finish('');
    dialog.oncancel = (event) => {
      event.preventDefault();
      finish('');
    };
    dialog.showModal();
    input.focus();
  });
  return asking;
});

const topPaths = startTopPaths();
live = startLive();
startLoadTest({ onFinished: () => topPaths.refresh() });
void checkHealth();
