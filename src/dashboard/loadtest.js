// The load-test panel: starts an async job (POST /test/<n>?async=1), follows it through
// GET /test/jobs/<id> (progress, rps, p99), then shows its report.
import { api } from './api.js';
import { latencyChart } from './charts.js';
import { count, duration, ms } from './format.js';

const POLL_MS = 500;
const FINISHED = new Set(['done', 'failed', 'cancelled']);
const STATUS_WORDS = { queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed', cancelled: 'Cancelled' };

const $ = (id) => document.getElementById(id);

function chips(el, entries, kind) {
  if (entries.length === 0) {
    const none = document.createElement('span');
    none.className = 'muted';
    none.textContent = 'none';
    el.replaceChildren(none);
    return;
  }
  el.replaceChildren(...entries.map(([name, n]) => {
    const chip = document.createElement('span');
    chip.className = `chip chip--${kind(name)}`;
    const label = document.createElement('b');
    label.textContent = name;
    chip.append(label, ` × ${count(n)}`);
    return chip;
  }));
}

/** Why a start was refused: the API's own words (400, 403, 429) say what to change. */
function refusal(error) {
  if (error.status === 401) return 'Not started: this server needs the admin token.';
  return `Not started: ${error.message}`;
}

export function startLoadTest({ onFinished }) {
  const form = $('load-form');
  let jobId = null;
  let poll;
  let chart = null;

  const showError = (message) => {
    $('load-error').hidden = !message;
    $('load-error').textContent = message ?? '';
  };

  const setStatus = (status) => {
    const chip = $('load-status');
    chip.hidden = !status;
    chip.textContent = STATUS_WORDS[status] ?? status;
    chip.className = `chip chip--${status}`;
  };

  /** idle, starting (waiting for the API's answer, or for the token), or running (a job to cancel). */
  const setPhase = (phase) => {
    $('load-start').disabled = phase !== 'idle';
    $('load-start').textContent = { idle: 'Start load test', starting: 'Starting…', running: 'Running…' }[phase];
    $('load-cancel').hidden = phase !== 'running';
  };

  function showProgress(job) {
    const requested = job.plan.requests;
    const progress = job.report ?? job.progress;
    const done = progress ? progress.completed + progress.dropped : 0;
    const fraction = job.status === 'done' ? 1 : Math.min(1, done / requested);
    const percent = Math.round(fraction * 100);
    $('load-progress').hidden = false;
    $('load-bar-fill').style.width = `${fraction * 100}%`;
    $('load-bar').setAttribute('aria-valuenow', String(percent));
    $('load-bar').dataset.progress = String(percent);
    $('load-count').textContent = `${count(done)} / ${count(requested)}`;
    $('load-rps').textContent = count(progress?.requestsPerSecond ?? 0);
    $('load-p99').textContent = ms(job.report?.latencyMs.p99 ?? progress?.p99 ?? 0);
    $('load-elapsed').textContent = duration(job.report?.durationMs ?? progress?.elapsedMs ?? 0);
  }

  function showReport(report) {
    const el = $('load-report');
    el.hidden = false;
    $('r-succeeded').textContent = count(report.succeeded);
    $('r-failed').textContent = count(report.failed);
    $('r-failed').classList.toggle('is-bad', report.failed > 0);
    $('r-rps').textContent = count(report.requestsPerSecond);
    $('r-duration').textContent = duration(report.durationMs);
    chips($('r-codes'), Object.entries(report.statusCodes), (code) => (code.startsWith('2') ? 'ok' : 'bad'));
    chips($('r-errors'), Object.entries(report.errors), () => 'bad');
    const cells = ['min', 'p50', 'p90', 'p99', 'p99_9', 'max'].map((key) => {
      const td = document.createElement('td');
      td.textContent = ms(report.latencyMs[key]);
      return td;
    });
    $('r-latency').tBodies[0].rows[0].replaceChildren(...cells);
    const model = report.model === 'open' ? `open model at ${count(report.rate)} req/s` : `closed model, ${count(report.concurrency)} in flight`;
    const dropped = report.dropped ? ` · ${count(report.dropped)} dropped` : '';
    const { mean, stddev } = report.latencyMs;
    $('r-foot').textContent = `mean ${ms(mean)} ms, σ ${ms(stddev)} ms · ${count(report.requested)} requests · ${model} · ${report.distribution} over ${count(report.paths)} paths · seed ${report.seed}${dropped}`;
    // Drawn once the report is visible, so the chart takes the box's real width.
    if (chart) chart.update(report.latencyMs);
    else chart = latencyChart($('r-latency-chart'), report.latencyMs);
    el.dataset.state = 'shown';
  }

  function show(job) {
    setStatus(job.status);
    showProgress(job);
    if (job.report) showReport(job.report);
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
      return;
    }
    poll = setTimeout(() => follow(id), POLL_MS);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(null);
    const data = new FormData(form);
    const n = String(data.get('n')).trim();
    if (!/^\d+$/.test(n) || Number(n) < 1) return showError('Requests must be a whole number of at least 1.');
    const params = new URLSearchParams({ async: '1', distribution: String(data.get('distribution')) });
    for (const name of ['concurrency', 'rate']) {
      const value = String(data.get(name)).trim();
      if (value) params.set(name, value);
    }
    setPhase('starting');
    try {
      const { body: job } = await api(`/test/${n}?${params}`, { method: 'POST', source: 'jobs' });
      setPhase('running');
      $('load-report').hidden = true;
      show(job);
      void follow(job.id);
    } catch (error) {
      setPhase('idle');
      if (!error.outage) showError(refusal(error));
    }
  });

  $('load-cancel').addEventListener('click', async () => {
    if (!jobId) return;
    try {
      await api(`/test/jobs/${jobId}`, { method: 'DELETE', source: 'jobs' });
    } catch (error) {
      if (!error.outage && error.status !== 409) showError(error.message);
    }
  });

  // A page opened during or after a run (from here, the CLI, or another replica) shows the latest.
  api('/test/jobs?limit=1', { source: 'jobs' }).then(({ body: [latest] }) => {
    if (!latest || jobId) return;
    if (FINISHED.has(latest.status)) show(latest);
    else {
      setPhase('running');
      void follow(latest.id);
    }
  }, () => {});
}
