// How the load-test panel shows a run (kind 'run'), whatever started it: its progress, the stage
// running and the ramp (target rate against achieved, drawn from the polls), then its report with
// each stage's figures and the generator's warnings.
import { latencyChart, rampChart } from './charts.js';
import { $, h, setText } from './dom.js';
import { count, duration, ms } from './format.js';

/** "250 req/s", "100 → 400 req/s" or "20 in flight": a stage's load, from its plan or its report. */
export function stageLoad({ rate, concurrency }) {
  if (!rate) return `${count(concurrency)} in flight`;
  return rate.from === rate.to ? `${count(rate.from)} req/s` : `${count(rate.from)} → ${count(rate.to)} req/s`;
}

/** "10 s" or "2,000 requests": how a planned stage ends (an open one has both; its time is what was asked). */
function stageLength(stage) {
  if (stage.rate || stage.requests === null) return duration(stage.durationMs);
  return `${count(stage.requests)} requests`;
}

function describeStage(stage) {
  return `${stage.warmup ? 'warm-up, ' : ''}${stageLoad(stage)}, ${stageLength(stage)}`;
}

/**
 * How far a run is, from 0 to 1: by requests when every stage has a count (progress counts the
 * warm-up too), by time when every stage has a duration, else by stages.
 */
function fractionDone(job, progress) {
  const { stages } = job.plan;
  if (job.status === 'done') return 1;
  if (!progress) return 0;
  if (stages.every((stage) => stage.requests !== null)) {
    const requested = stages.reduce((sum, stage) => sum + stage.requests, 0);
    return Math.min(1, (progress.completed + progress.dropped) / requested);
  }
  if (stages.every((stage) => stage.durationMs !== null)) {
    return Math.min(1, progress.elapsedMs / stages.reduce((sum, stage) => sum + stage.durationMs, 0));
  }
  return Math.min(1, progress.stage / stages.length);
}

function plannedRequests(stages) {
  return stages.every((stage) => stage.requests !== null) ? stages.reduce((sum, stage) => sum + stage.requests, 0) : null;
}

function chips(el, entries, kind) {
  if (entries.length === 0) {
    el.replaceChildren(h('span', { class: 'muted', text: 'none' }));
    return;
  }
  el.replaceChildren(...entries.map(([name, n]) => h('span', { class: `chip chip--${kind(name)}` }, h('b', { text: name }), ` × ${count(n)}`)));
}

function modelWords(report) {
  if (report.model === 'mixed') return 'closed and open stages';
  if (report.model === 'closed') return `closed model, ${count(report.concurrency)} in flight`;
  return report.rate === null ? 'open model, ramped' : `open model at ${count(report.rate)} req/s`;
}

export function runView() {
  const root = $('run-live');
  const chartEl = $('run-ramp-chart');
  let latency = null;
  let ramp = null;
  // The chart's points, one per new progress tick, and the tick before (for the achieved rate).
  let points = [[], [], []];
  let previous = null;
  let shownStages = null;

  function addPoint(progress) {
    if (!progress) return;
    if (previous && progress.elapsedMs <= previous.elapsedMs) return;
    // Achieved: what completed since the last tick, over the time between them.
    const achieved = previous
      ? ((progress.completed - previous.completed) * 1000) / (progress.elapsedMs - previous.elapsedMs)
      : progress.requestsPerSecond;
    previous = progress;
    points[0].push(progress.elapsedMs / 1000);
    points[1].push(progress.targetRate);
    points[2].push(Math.max(0, Math.round(achieved * 10) / 10));
    if (ramp) ramp.setData(points);
    else ramp = rampChart(chartEl, points);
    chartEl.dataset.points = String(points[0].length);
    chartEl.dataset.targetMax = String(Math.max(0, ...points[1].filter((rate) => rate !== null)));
    chartEl.dataset.achievedMax = String(Math.max(0, ...points[2]));
  }

  function showStages(job) {
    const { stages } = job.plan;
    const list = $('run-stages');
    if (shownStages !== job.id) {
      shownStages = job.id;
      list.replaceChildren(...stages.map((stage, i) => h('li', { 'data-stage': i }, h('span', { class: 'stage-list__n', text: String(i + 1) }), h('span', { text: describeStage(stage) }))));
    }
    const running = job.status === 'running';
    const current = job.progress?.stage ?? (job.status === 'queued' ? -1 : 0);
    [...list.children].forEach((item, i) => {
      let state = 'waiting';
      if (job.status === 'done' || i < current) state = 'done';
      else if (i === current) state = running ? 'current' : 'stopped';
      item.dataset.state = state;
      if (state === 'current') item.setAttribute('aria-current', 'step');
      else item.removeAttribute('aria-current');
    });
    root.dataset.stage = String(current);
    const of = `of ${stages.length}`;
    let now;
    if (job.status === 'queued') now = `Queued: ${stages.length} ${stages.length === 1 ? 'stage' : 'stages'}.`;
    else if (running) now = `Stage ${current + 1} ${of}${job.progress?.warmup ? ' (warm-up)' : ''}: ${stageLoad(stages[current] ?? stages[0])}.`;
    else if (job.status === 'done') now = `Done: ${stages.length} ${stages.length === 1 ? 'stage' : 'stages'}.`;
    else now = `${job.status === 'failed' ? 'Failed' : 'Cancelled'} in stage ${Math.min(current + 1, stages.length)} ${of}.`;
    // A live region: written only when the words change, so each stage is announced once.
    setText($('run-stage-now'), now);
  }

  function showProgress(job) {
    const progress = job.report ?? job.progress;
    const fraction = fractionDone(job, job.progress);
    const percent = Math.round(fraction * 100);
    const requested = plannedRequests(job.plan.stages);
    const done = job.progress ? job.progress.completed + job.progress.dropped : 0;
    $('load-progress').hidden = false;
    $('load-bar-fill').style.width = `${fraction * 100}%`;
    $('load-bar').setAttribute('aria-valuenow', String(percent));
    $('load-bar').dataset.progress = String(percent);
    $('load-count').textContent = requested === null ? `${count(done)} sent` : `${count(job.status === 'done' ? requested : done)} / ${count(requested)}`;
    $('load-rps').textContent = count(progress?.requestsPerSecond ?? 0);
    $('load-p99').textContent = ms(job.report?.latencyMs.p99 ?? job.progress?.p99 ?? 0);
    $('load-elapsed').textContent = duration(job.report?.durationMs ?? job.progress?.elapsedMs ?? 0);
  }

  function showStageTable(report) {
    const block = $('r-stages-block');
    block.hidden = report.stages.length < 2 && !report.warmup;
    $('r-stages').tBodies[0].replaceChildren(...report.stages.map((stage) => h('tr', { class: stage.warmup ? 'is-warmup' : null },
      h('th', { scope: 'row', text: `${stage.index + 1}${stage.warmup ? ' warm-up' : ''}` }),
      h('td', { text: stageLoad(stage) }),
      h('td', { text: count(stage.completed) }),
      h('td', { class: stage.failed > 0 ? 'is-bad' : null, text: count(stage.failed) }),
      h('td', { class: stage.dropped > 0 ? 'is-bad' : null, text: count(stage.dropped) }),
      h('td', { text: count(stage.requestsPerSecond) }),
      h('td', { text: ms(stage.latencyMs.p50) }),
      h('td', { text: ms(stage.latencyMs.p99) }),
    )));
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
    const cells = ['min', 'p50', 'p90', 'p99', 'p99_9', 'max'].map((key) => h('td', { text: ms(report.latencyMs[key]) }));
    $('r-latency').tBodies[0].rows[0].replaceChildren(...cells);
    const warnings = report.warnings ?? [];
    $('r-warnings').hidden = warnings.length === 0;
    $('r-warnings').replaceChildren(...warnings.map((warning) => h('li', { text: warning })));
    showStageTable(report);
    const dropped = report.dropped ? ` · ${count(report.dropped)} dropped` : '';
    const warmup = report.warmup ? ` · warm-up of ${count(report.warmup.completed)} requests left out` : '';
    const requested = report.requested === null ? '' : ` · ${count(report.requested)} requests`;
    const { mean, stddev } = report.latencyMs;
    $('r-foot').textContent = `mean ${ms(mean)} ms, σ ${ms(stddev)} ms${requested} · ${modelWords(report)} · ${report.distribution} over ${count(report.paths)} paths · seed ${report.seed}${dropped}${warmup}`;
    // Drawn once the report is visible, so the chart takes the box's real width.
    if (latency) latency.update(report.latencyMs);
    else latency = latencyChart($('r-latency-chart'), report.latencyMs);
    el.dataset.state = 'shown';
  }

  return {
    /** Before following a new job: nothing of the last one stays. */
    reset() {
      points = [[], [], []];
      previous = null;
      shownStages = null;
      ramp?.setData(points);
      chartEl.dataset.points = '0';
      chartEl.dataset.targetMax = '0';
      chartEl.dataset.achievedMax = '0';
      $('load-report').hidden = true;
      delete $('load-report').dataset.state;
      root.hidden = true;
    },
    show(job) {
      showProgress(job);
      // The chart is drawn from polls: a run that ended before this page saw it has none to draw.
      const watched = job.status === 'running' || points[0].length > 0;
      root.hidden = false;
      chartEl.parentElement.querySelector('.chart-legend').hidden = !watched;
      chartEl.hidden = !watched;
      showStages(job);
      if (job.status === 'running') addPoint(job.progress);
      if (job.report) showReport(job.report);
    },
    hide() {
      $('load-progress').hidden = true;
      $('load-report').hidden = true;
      root.hidden = true;
    },
  };
}
