// Live traffic: hits per second from GET /stats/stream (Server-Sent Events), drawn over the
// last five minutes. The server samples for every page at once; the page only listens.
import { adminToken, reportHealth } from './api.js';
import { liveChart } from './charts.js';
import { compact, count } from './format.js';

const WINDOW_SECONDS = 300;
// No point for this long means the feed is stuck, whatever the connection says.
const STALE_MS = 4000;

const $ = (id) => document.getElementById(id);

/**
 * EventSource cannot send an Authorization header; with an admin token (auth.protectStats) the
 * stream is read with fetch instead, which can. Both call handlers[event](data).
 */
function openFeed(handlers) {
  const token = adminToken.get();
  if (!token) {
    const source = new EventSource('/stats/stream');
    source.onopen = () => handlers.open();
    source.onerror = () => handlers.error(source.readyState === EventSource.CLOSED);
    for (const name of ['backlog', 'hits', 'unavailable']) source.addEventListener(name, (event) => handlers[name](JSON.parse(event.data)));
    return () => source.close();
  }
  const controller = new AbortController();
  (async () => {
    const response = await fetch('/stats/stream', { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
    if (!response.ok) throw new Error(`${response.status}`);
    handlers.open();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data && handlers[name]) handlers[name](JSON.parse(data));
      }
    }
    handlers.error(true);
  })().catch((error) => {
    if (error.name !== 'AbortError') handlers.error(true);
  });
  return () => controller.abort();
}

export function startLive() {
  const chartEl = $('live-chart');
  const seconds = new Map(); // epoch second → hits
  let received = 0;
  let lastPointAt = 0;
  let state = 'connecting';
  const chart = liveChart(chartEl, [[], []]);

  const setState = (next, label) => {
    state = next;
    $('live-badge').dataset.state = next;
    $('live-state').textContent = label;
  };

  const render = () => {
    const newest = Math.max(...seconds.keys(), Math.floor(Date.now() / 1000) - 2);
    const oldest = newest - WINDOW_SECONDS + 1;
    for (const second of seconds.keys()) if (second < oldest) seconds.delete(second);
    const xs = [];
    const ys = [];
    for (let second = oldest; second <= newest; second++) {
      xs.push(second);
      ys.push(seconds.get(second) ?? null);
    }
    chart.setData([xs, ys]);
    const known = ys.filter((hits) => hits !== null);
    const total = known.reduce((sum, hits) => sum + hits, 0);
    const peak = known.length ? Math.max(...known) : 0;
    const latest = seconds.get(newest) ?? 0;
    $('live-rate').textContent = known.length ? compact(latest) : '–';
    $('live-total').textContent = known.length ? count(total) : '–';
    $('live-peak').textContent = known.length ? compact(peak) : '–';
    $('live-empty').hidden = !(known.length > 0 && total === 0);
    Object.assign(chartEl.dataset, { points: String(received), latest: String(latest), peak: String(peak) });
  };

  const add = ({ t, hits }) => {
    seconds.set(Math.floor(t / 1000), hits);
    received++;
    lastPointAt = Date.now();
  };

  let close = () => {};
  let retry;
  const connect = () => {
    close();
    close = openFeed({
      open: () => setState('connecting', 'Connecting'),
      backlog(points) {
        seconds.clear();
        points.forEach(add);
        setState('live', 'Live');
        reportHealth('live', null);
        render();
      },
      hits(point) {
        add(point);
        if (state !== 'live') setState('live', 'Live');
        reportHealth('live', null);
        render();
      },
      unavailable({ error }) {
        setState('paused', 'Paused');
        reportHealth('live', { message: error });
      },
      error(closed) {
        setState('offline', 'Reconnecting');
        // EventSource retries by itself unless it gave up (an HTTP error); then we do, gently.
        if (closed) {
          close();
          clearTimeout(retry);
          retry = setTimeout(connect, 3000);
        }
      },
    });
  };
  connect();

  setInterval(() => {
    if (state === 'live' && Date.now() - lastPointAt > STALE_MS) setState('offline', 'Waiting');
  }, 1000);

  return {
    /** After the admin token changed: the fetch reader takes over from EventSource, or the reverse. */
    reconnect: connect,
  };
}
