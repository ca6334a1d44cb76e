// The load-test panel's comparison: two finished runs picked from GET /test/jobs, their figures
// side by side from GET /test/jobs/<a>/compare/<b>, with which differences stand out of the
// noise and the server's verdict in a sentence.
import { api } from './api.js';
import { $, h, setText } from './dom.js';
import { count, duration, ms } from './format.js';

const NAMES = { requestsPerSecond: 'Throughput', p50: 'p50', p90: 'p90', p99: 'p99', p99_9: 'p99.9', errorRate: 'Errors' };
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Runs with figures to compare: finished (done, or cancelled after it began). */
const comparable = (job) => job.kind === 'run' && (job.status === 'done' || job.status === 'cancelled') && job.report && job.report.completed > 0;

function jobLabel(job) {
  const { report } = job;
  return `${timeOfDay.format(new Date(job.createdAt))} · ${load(report)} → ${count(report.requestsPerSecond)} req/s, p99 ${ms(report.latencyMs.p99)} ms${job.status === 'cancelled' ? ' (cancelled)' : ''}`;
}

function value(metric, number) {
  if (metric.unit === 'ms') return `${ms(number)} ms`;
  if (metric.unit === '%') return `${ms(number)}%`;
  return `${count(number)} req/s`;
}

function change(metric) {
  const sign = metric.difference > 0 ? '+' : metric.difference < 0 ? '−' : '±';
  const magnitude = value(metric, Math.abs(metric.difference));
  const percent = metric.changePercent === null || metric.difference === 0 ? '' : ` (${metric.changePercent > 0 ? '+' : ''}${metric.changePercent}%)`;
  return `${sign}${magnitude}${percent}`;
}

function noiseChip(metric, estimated) {
  if (!estimated || metric.standardError === null) return h('span', { class: 'chip', title: 'Too few full seconds to estimate the noise', text: 'noise unknown' });
  return metric.beyondNoise
    ? h('span', { class: `chip chip--${metric.better === 'b' ? 'ok' : 'bad'}`, text: 'beyond noise' })
    : h('span', { class: 'chip', text: 'within noise' });
}

function metricRow(metric, estimated) {
  const cell = (run) => h('td', { class: metric.better === run ? 'is-better' : null, text: value(metric, metric[run]) });
  return h('tr', { 'data-metric': metric.metric, 'data-beyond-noise': String(metric.beyondNoise) },
    h('th', { scope: 'row', text: NAMES[metric.metric] ?? metric.metric }),
    cell('a'),
    cell('b'),
    h('td', { class: 'compare-change' }, h('span', { text: change(metric) }), ' ', noiseChip(metric, estimated)),
  );
}

/** "200 req/s" (open at one rate), "20 in flight" (closed), "ramped" or "mixed". */
function load(run) {
  if (run.model === 'closed') return `${count(run.concurrency)} in flight`;
  if (run.model === 'mixed') return 'mixed';
  return run.rate === null ? 'ramped' : `${count(run.rate)} req/s`;
}

function runRow(comparison) {
  const describe = (run) => `${load(run)} · ${count(run.completed)} in ${duration(run.durationMs)}`;
  return h('tr', { class: 'compare-runs' },
    h('th', { scope: 'row', text: 'Run' }),
    h('td', { text: describe(comparison.a) }),
    h('td', { text: describe(comparison.b) }),
    h('td', { class: 'muted', text: '' }),
  );
}

export function compareRuns() {
  const form = $('compare-form');
  const [a, b] = [$('compare-a'), $('compare-b')];
  let asked = 0;

  const showError = (message) => {
    $('load-error').hidden = !message;
    $('load-error').textContent = message ?? '';
  };

  async function refresh() {
    let jobs;
    try {
      ({ body: jobs } = await api('/test/jobs?limit=100', { source: 'jobs' }));
    } catch {
      return;
    }
    const runs = jobs.filter(comparable);
    const keep = [a.value, b.value];
    const options = () => runs.map((job) => h('option', { value: job.id, text: jobLabel(job) }));
    a.replaceChildren(...options());
    b.replaceChildren(...options());
    // The newest run as B, the one before it as A: "what changed since last time".
    const ids = new Set(runs.map((job) => job.id));
    a.value = ids.has(keep[0]) ? keep[0] : runs[1]?.id ?? runs[0]?.id ?? '';
    b.value = ids.has(keep[1]) ? keep[1] : runs[0]?.id ?? '';
    $('compare-start').disabled = runs.length === 0;
    form.dataset.runs = String(runs.length);
    setText($('compare-hint'), runs.length >= 2
      ? 'Two finished runs, side by side: which differences are beyond the noise of their per-second figures.'
      : 'Compare needs finished runs: start one or two from the Requests or Stages tab.');
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(null);
    if (!a.value || !b.value) return showError('Pick two finished runs to compare.');
    const ask = ++asked;
    $('compare-start').disabled = true;
    try {
      const { body } = await api(`/test/jobs/${a.value}/compare/${b.value}`, { source: 'jobs' });
      if (ask !== asked) return;
      show(body);
    } catch (error) {
      if (!error.outage) showError(`Not compared: ${error.message}`);
    } finally {
      $('compare-start').disabled = false;
    }
  });
  $('compare-refresh').addEventListener('click', () => void refresh());

  function show(comparison) {
    const estimated = comparison.noise.estimated;
    $('compare-table').tBodies[0].replaceChildren(runRow(comparison), ...comparison.metrics.map((metric) => metricRow(metric, estimated)));
    const notes = [comparison.noise.reason, ...comparison.warnings].filter(Boolean);
    $('compare-notes').replaceChildren(...notes.map((note) => h('li', { text: note })));
    $('compare-notes').hidden = notes.length === 0;
    $('compare-result').hidden = false;
    $('compare-result').dataset.faster = comparison.verdict.faster;
    // The live region: the verdict is what a screen reader hears once the comparison is in.
    $('compare-verdict').textContent = comparison.verdict.summary;
    $('compare-result').dataset.state = 'shown';
  }

  return { refresh };
}
