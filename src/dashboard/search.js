// The load-test panel's breaking-point search: its form (the body of POST /test/search) and how a
// search job shows: each step as it arrives in progress.search.steps, then the breaking point.
import { $, h, setText } from './dom.js';
import { count, ms } from './format.js';

const OBJECTIVE_WORDS = { p50: 'p50', p90: 'p90', p99: 'p99', p99_9: 'p99.9' };

/** "p99 ≤ 50 ms, errors ≤ 1%". */
function objectiveWords(objective) {
  const parts = Object.entries(OBJECTIVE_WORDS).filter(([key]) => objective[key] !== undefined).map(([key, label]) => `${label} ≤ ${ms(objective[key])} ms`);
  if (objective.errors !== undefined) parts.push(`errors ≤ ${objective.errors}%`);
  return parts.join(', ');
}

/** The body of POST /test/search from the form, or { error } saying what to change. */
export function readSearchForm(form) {
  const field = (name) => String(new FormData(form).get(name) ?? '').trim();
  const number = (raw) => (raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : null);
  const whole = (raw) => (/^\d+$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null);
  const objective = {};
  const p99 = number(field('p99'));
  const errors = number(field('errors'));
  if (field('p99') !== '') {
    if (p99 === null || p99 <= 0) return { error: 'The p99 bound must be a number of milliseconds above 0.' };
    objective.p99 = p99;
  }
  if (field('errors') !== '') {
    if (errors === null || errors < 0 || errors > 100) return { error: 'The error bound must be a percentage from 0 to 100.' };
    objective.errors = errors;
  }
  if (Object.keys(objective).length === 0) return { error: 'Give the objective a p99 bound, an error bound, or both.' };
  const minRate = whole(field('minRate'));
  const maxRate = whole(field('maxRate'));
  if (minRate === null || maxRate === null) return { error: 'The lowest and highest rates must be whole numbers of requests per second, at least 1.' };
  if (minRate > maxRate) return { error: 'The lowest rate must be at most the highest.' };
  const step = number(field('step'));
  if (step === null || step <= 0) return { error: 'Each step must last a number of seconds above 0.' };
  const warmup = field('warmup') === '' ? 0 : number(field('warmup'));
  if (warmup === null || warmup < 0) return { error: 'The warm-up must be a number of seconds, 0 for none.' };
  return { body: { objective, minRate, maxRate, stepDurationMs: Math.round(step * 1000), warmupMs: Math.round(warmup * 1000) } };
}

function stepRow(step) {
  const result = step.met
    ? h('span', { class: 'chip chip--ok', text: 'Met' })
    : h('span', { class: 'chip chip--bad', text: 'Missed' });
  const why = step.missed.length ? h('small', { class: 'step-why', text: step.missed.join('; ') }) : null;
  return h('tr', { 'data-met': String(step.met) },
    h('th', { scope: 'row' }, String(step.step + 1), h('small', { class: 'step-phase', text: step.phase })),
    h('td', { text: `${count(step.rate)} req/s` }),
    h('td', { class: 'step-result' }, result, why),
    h('td', { text: `${ms(step.latencyMs.p99)} ms` }),
    h('td', { class: step.errors > 0 ? 'is-bad' : null, text: `${step.errors}%` }),
    h('td', { text: `${count(step.requestsPerSecond)} req/s` }),
  );
}

function runningRow(search) {
  return h('tr', { class: 'is-running', 'data-running': '' },
    h('th', { scope: 'row' }, String(search.step + 1), h('small', { class: 'step-phase', text: search.phase })),
    h('td', { text: `${count(search.rate)} req/s` }),
    h('td', { colspan: '4', class: 'muted', text: 'running…' }),
  );
}

const sentence = (words) => `${words.charAt(0).toUpperCase()}${words.slice(1)}`;

/** The outcome in words, for the tiles' foot and for screen readers. */
function verdict(report, spec) {
  return sentence(outcome(report, spec));
}

function outcome(report, spec) {
  if (report.steps.length === 0) return 'Cancelled before its first step.';
  const cut = report.cancelled ? 'Cancelled: ' : '';
  if (report.breakingPoint === null) return `${cut}even the lowest rate, ${count(report.minRate)} req/s, missed the objective.`;
  if (report.firstFailingRate === null) {
    return report.breakingPoint >= report.maxRate
      ? `${cut}every step up to the highest rate, ${count(report.maxRate)} req/s, met the objective: the breaking point is there or above.`
      : `${cut}every step met the objective, up to ${count(report.breakingPoint)} req/s.`;
  }
  const steps = report.steps.length >= (spec?.maxSteps ?? Infinity) ? ` (after ${report.steps.length} steps, the most allowed)` : '';
  return `${cut}the breaking point lies between ${count(report.breakingPoint)} req/s, which met the objective, and ${count(report.firstFailingRate)} req/s, which missed it${steps}.`;
}

export function searchView() {
  const root = $('search-view');
  return {
    reset() {
      $('search-steps').tBodies[0].replaceChildren();
      $('search-result').hidden = true;
      delete root.dataset.state;
      setText($('search-now'), '');
    },
    show(job) {
      root.hidden = false;
      if (job.search) $('search-objective').textContent = `Objective: ${objectiveWords(job.search.objective)} · ${count(job.search.minRate)} to ${count(job.search.maxRate)} req/s`;
      const report = job.report;
      const search = job.progress?.search;
      const steps = report?.steps ?? search?.steps ?? [];
      const rows = steps.map(stepRow);
      if (!report && job.status === 'running' && search && search.step >= steps.length) rows.push(runningRow(search));
      $('search-steps').tBodies[0].replaceChildren(...rows);
      root.dataset.steps = String(steps.length);
      if (job.status === 'queued') setText($('search-now'), 'Queued.');
      else if (job.status === 'running' && search) {
        const last = steps.at(-1);
        const lastWords = last ? `Step ${last.step + 1} at ${count(last.rate)} req/s ${last.met ? 'met' : 'missed'} the objective. ` : '';
        setText($('search-now'), `${lastWords}Step ${search.step + 1} at ${count(search.rate)} req/s is running.`);
      } else if (job.status === 'failed') setText($('search-now'), 'The search failed.');
      if (!report) return;
      $('search-result').hidden = false;
      $('search-breaking').textContent = report.breakingPoint === null ? 'none' : `${count(report.breakingPoint)} req/s`;
      $('search-failing').textContent = report.firstFailingRate === null ? 'none' : `${count(report.firstFailingRate)} req/s`;
      const words = verdict(report, job.search);
      $('search-summary').textContent = words;
      setText($('search-now'), `${report.steps.length} ${report.steps.length === 1 ? 'step' : 'steps'}. ${words}`);
      root.dataset.state = 'shown';
    },
    hide() {
      root.hidden = true;
    },
  };
}
