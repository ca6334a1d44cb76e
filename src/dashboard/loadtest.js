// The load-test panel: tabs to start a run of n requests (POST /test/<n>), a run in stages
// (POST /test), or a breaking-point search (POST /test/search), all async, and to compare two
// finished runs. One job at a time is followed through GET /test/jobs/<id> and shown by
// run-view.js or search.js, whoever started it (this page, the CLI, another replica).
import { api } from './api.js';
import { compareRuns } from './compare.js';
import { $, setText } from './dom.js';
import { runView } from './run-view.js';
import { readSearchForm, searchView } from './search.js';
import { stageEditor } from './stage-editor.js';

const POLL_MS = 500;
const FINISHED = new Set(['done', 'failed', 'cancelled']);
const STATUS_WORDS = { queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed', cancelled: 'Cancelled' };
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Why a start was refused: the API's own words (400, 403, 429) say what to change. */
function refusal(error) {
  if (error.status === 401) return 'Not started: this server needs the admin token.';
  return `Not started: ${error.message}`;
}

function jobTitle(job) {
  const when = `started ${timeOfDay.format(new Date(job.startedAt ?? job.createdAt))}`;
  if (job.kind === 'search') return `Breaking-point search, ${when}`;
  const measured = job.plan.stages.filter((stage) => !stage.warmup).length;
  const warmup = job.plan.stages.length > measured ? ' and a warm-up' : '';
  return `Run of ${measured} ${measured === 1 ? 'stage' : 'stages'}${warmup}, ${when}`;
}

/** Tabs as the ARIA pattern has them: arrows, Home and End move between them; one is in the tab order. */
function tabs(onSelect) {
  const list = $('load-tabs');
  const all = [...list.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const other of all) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute('aria-controls')).hidden = !selected;
    }
    if (focus) tab.focus();
    onSelect(tab.id.replace(/^tab-/, ''));
  };
  list.addEventListener('click', (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (tab) select(tab, false);
  });
  list.addEventListener('keydown', (event) => {
    const i = all.indexOf(document.activeElement);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[event.key];
    if (i < 0 || next === undefined) return;
    event.preventDefault();
    select(all[(next + all.length) % all.length], true);
  });
}

export function startLoadTest({ onFinished }) {
  const runs = runView();
  const searches = searchView();
  const comparison = compareRuns();
  const stages = stageEditor({ rows: $('stages-rows'), add: $('stages-add') });
  let jobId = null;
  let poll;

  const showError = (message) => {
    $('load-error').hidden = !message;
    $('load-error').textContent = message ?? '';
  };

  const setStatus = (status) => {
    const chip = $('load-status');
    chip.hidden = !status;
    setText(chip, STATUS_WORDS[status] ?? status);
    chip.className = `chip chip--${status}`;
  };

  /** idle, starting (waiting for the API's answer, or for the token), or running (a job to cancel). */
  const setPhase = (phase) => {
    for (const button of $('load-tabs').parentElement.querySelectorAll('[data-start]')) {
      button.disabled = phase !== 'idle';
      button.textContent = { idle: button.dataset.start, starting: 'Starting…', running: 'Running…' }[phase];
    }
    for (const button of $('load-tabs').parentElement.querySelectorAll('[data-cancel]')) button.hidden = phase !== 'running';
  };

  tabs((name) => {
    // The job shown belongs with the forms that start jobs; Compare has results of its own.
    $('load-job').hidden = name === 'compare';
    showError(null);
    if (name === 'compare') void comparison.refresh();
  });

  function show(job) {
    setStatus(job.status);
    $('job-title').hidden = false;
    $('job-title').textContent = jobTitle(job);
    if (job.kind === 'search') {
      runs.hide();
      searches.show(job);
    } else {
      searches.hide();
      runs.show(job);
    }
    if (job.status === 'failed' && job.error) showError(`The load test failed: ${job.error}`);
  }

  async function follow(id) {
    clearTimeout(poll);
    jobId = id;
    let job;
    try {
      ({ body: job } = await api(`/test/jobs/${id}`, { source: 'jobs' }));
    } catch (error) {
      if (error.status === 404) return setPhase('idle');
      poll = setTimeout(() => follow(id), POLL_MS * 2);
      return;
    }
    if (id !== jobId) return;
    show(job);
    if (FINISHED.has(job.status)) {
      setPhase('idle');
      onFinished();
      void comparison.refresh();
      return;
    }
    poll = setTimeout(() => follow(id), POLL_MS);
  }

  /** POSTs `path` (with `body` as JSON, if any) and follows the job it answers with. */
  async function start(path, body) {
    showError(null);
    setPhase('starting');
    try {
      const { body: job } = await api(path, { method: 'POST', source: 'jobs', body });
      setPhase('running');
      runs.reset();
      searches.reset();
      show(job);
      void follow(job.id);
    } catch (error) {
      setPhase('idle');
      if (!error.outage) showError(refusal(error));
    }
  }

  $('load-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const n = String(data.get('n')).trim();
    if (!/^\d+$/.test(n) || Number(n) < 1) return showError('Requests must be a whole number of at least 1.');
    const params = new URLSearchParams({ async: '1', distribution: String(data.get('distribution')) });
    for (const name of ['concurrency', 'rate']) {
      const value = String(data.get(name)).trim();
      if (value) params.set(name, value);
    }
    void start(`/test/${n}?${params}`);
  });

  $('stages-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const { stages: list, error } = stages.read();
    if (error) return showError(error);
    void start('/test?async=1', { stages: list, distribution: String(new FormData(event.target).get('distribution')) });
  });

  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const { body, error } = readSearchForm(event.target);
    if (error) return showError(error);
    void start('/test/search?async=1', body);
  });

  for (const button of $('load-tabs').parentElement.querySelectorAll('[data-cancel]')) {
    button.addEventListener('click', async () => {
      if (!jobId) return;
      try {
        await api(`/test/jobs/${jobId}`, { method: 'DELETE', source: 'jobs' });
      } catch (error) {
        if (!error.outage && error.status !== 409) showError(error.message);
      }
    });
  }

  // A page opened during or after a job (from here, the CLI, or another replica) shows the latest.
  api('/test/jobs?limit=1', { source: 'jobs' }).then(({ body: [latest] }) => {
    if (!latest || jobId) return;
    if (FINISHED.has(latest.status)) show(latest);
    else {
      setPhase('running');
      void follow(latest.id);
    }
  }, () => {});
}
