// Top paths: GET /stats paged with limit/offset (X-Total-Count says how many), narrowed by
// prefix and window, refreshed every few seconds while the page is visible.
import { api } from './api.js';
import { count, percent } from './format.js';

const REFRESH_MS = 5000;
const RETRY_MS = 2000;
// The API has no cheap total of hits; up to this many paths the page sums them itself for the share
// column. Beyond it, bars are relative to the page's first row.
const SUM_UP_TO_PATHS = 2000;

const WINDOW_WORDS = { all: 'all time', '30d': 'the last 30 days', '7d': 'the last 7 days', '24h': 'the last 24 hours', '1h': 'the last hour', '15m': 'the last 15 minutes' };

const $ = (id) => document.getElementById(id);

/** What the user typed, as the API's prefix: "blog", "/blog" and "/api/blog" all mean /api/blog. */
function prefixOf(text) {
  const trimmed = text.trim().replace(/^\/+/, '');
  if (!trimmed) return '';
  return trimmed === 'api' || trimmed.startsWith('api/') ? `/${trimmed}` : `/api/${trimmed}`;
}

function query(state, page) {
  const params = new URLSearchParams();
  if (page) {
    params.set('limit', String(state.limit));
    params.set('offset', String(state.offset));
  }
  if (state.window !== 'all') params.set('window', state.window);
  if (state.prefix) params.set('prefix', state.prefix);
  const text = params.toString();
  return text ? `/stats?${text}` : '/stats';
}

function row(rank, { path, hits }, share, relative) {
  const tr = document.createElement('tr');
  const cell = (className, text) => {
    const td = document.createElement('td');
    td.className = className;
    if (text !== undefined) td.textContent = text;
    tr.append(td);
    return td;
  };
  cell('num rank', String(rank));
  const pathCell = cell('path');
  const code = document.createElement('span');
  code.className = 'path__text';
  code.textContent = path; // paths are whatever clients sent: text only, never markup
  code.title = path;
  pathCell.append(code);
  cell('num hits', count(hits));
  const shareCell = document.createElement('div');
  shareCell.className = 'share';
  cell('share-cell').append(shareCell);
  const bar = document.createElement('span');
  bar.className = 'share__bar';
  const fill = document.createElement('span');
  fill.style.width = `${Math.max(0, Math.min(1, share ?? relative)) * 100}%`;
  bar.append(fill);
  const label = document.createElement('span');
  label.className = 'share__label';
  label.textContent = share === null ? '' : percent(share);
  shareCell.append(bar, label);
  return tr;
}

export function startTopPaths() {
  const state = { window: 'all', prefix: '', limit: 10, offset: 0 };
  let timer;
  let controller;

  const showError = (message) => {
    $('top-error').hidden = !message;
    $('top-error').textContent = message ?? '';
  };

  const empty = (show) => {
    $('top-empty').hidden = !show;
    $('top-table').hidden = show;
    if (!show) return;
    const scope = state.prefix ? ` under ${state.prefix}` : '';
    if (state.window === 'all' && !state.prefix) {
      $('top-empty-title').textContent = 'No hits yet';
      const command = document.createElement('code');
      command.textContent = `curl ${location.origin}/api/hello`;
      $('top-empty-text').replaceChildren('Count one with ', command, ', or start a load test.');
    } else {
      $('top-empty-title').textContent = `No hits${scope} in ${WINDOW_WORDS[state.window]}`;
      $('top-empty-text').textContent = 'Try a longer window or a shorter prefix.';
    }
  };

  /** Sum of hits in the current view when it is small enough to read whole; null otherwise. */
  async function sumOfHits(paths, rows, signal) {
    const key = query(state, false);
    if (paths === 0) return 0;
    if (state.offset === 0 && rows.length === paths) return rows.reduce((sum, r) => sum + r.hits, 0);
    if (paths > SUM_UP_TO_PATHS) return null;
    const { body } = await api(key, { source: 'stats', signal });
    return body.reduce((sum, r) => sum + r.hits, 0);
  }

  async function load() {
    clearTimeout(timer);
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    $('top-wrap').classList.add('is-loading');
    let next = REFRESH_MS;
    try {
      const { body: rows, headers } = await api(query(state, true), { source: 'stats', signal });
      const paths = Number(headers.get('X-Total-Count') ?? rows.length);
      // Paging past the end (the ranking shrank, or a new filter): back to the last page.
      if (rows.length === 0 && state.offset > 0 && paths > 0) {
        state.offset = Math.max(0, Math.floor((paths - 1) / state.limit) * state.limit);
        return load();
      }
      const total = await sumOfHits(paths, rows, signal);
      render(rows, paths, total);
      showError(null);
    } catch (error) {
      if (error.name === 'AbortError') return;
      // Outages are the banner's; a refused parameter belongs next to the filter that caused it.
      if (!error.outage) showError(error.message);
      next = RETRY_MS;
    } finally {
      if (!signal.aborted) {
        $('top-wrap').classList.remove('is-loading');
        timer = setTimeout(refresh, next);
      }
    }
  }

  function render(rows, paths, total) {
    const body = $('top-body');
    const top = rows[0]?.hits || 1;
    body.replaceChildren(...rows.map((r, i) => row(state.offset + i + 1, r, total ? r.hits / total : null, r.hits / top)));
    empty(rows.length === 0);
    const first = rows.length ? state.offset + 1 : 0;
    const last = state.offset + rows.length;
    $('top-range').textContent = paths ? `${count(first)}–${count(last)} of ${count(paths)}` : '';
    $('top-prev').disabled = state.offset === 0;
    $('top-next').disabled = last >= paths;
    const hitsText = total === null ? '' : ` · ${count(total)} hits`;
    $('top-summary').textContent = `${count(paths)} ${paths === 1 ? 'path' : 'paths'}${hitsText} · ${WINDOW_WORDS[state.window]}`;
    Object.assign($('top-table').dataset, { total: String(paths), offset: String(state.offset) });
  }

  function refresh() {
    if (document.hidden) {
      timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    void load();
  }

  let typing;
  $('top-prefix').addEventListener('input', (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.prefix = prefixOf(event.target.value);
      state.offset = 0;
      void load();
    }, 250);
  });
  $('top-window').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-window]');
    if (!button) return;
    for (const other of $('top-window').querySelectorAll('button')) other.setAttribute('aria-checked', String(other === button));
    state.window = button.dataset.window;
    state.offset = 0;
    void load();
  });
  $('top-limit').addEventListener('change', (event) => {
    state.limit = Number(event.target.value);
    state.offset = 0;
    void load();
  });
  $('top-prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - state.limit);
    void load();
  });
  $('top-next').addEventListener('click', () => {
    state.offset += state.limit;
    void load();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void load();
  });

  void load();
  return { refresh: () => void load() };
}
