// uPlot charts in the dashboard's colours. They follow their box's width and the light or dark
// theme (colours come from the CSS custom properties, so style.css stays the one source of them).
import { compact, count, ms, seconds } from './format.js';

const uPlot = window.uPlot;
const charts = new Set();

function palette() {
  const style = getComputedStyle(document.documentElement);
  const read = (name) => style.getPropertyValue(name).trim();
  return {
    line: read('--chart-line'),
    fill: read('--chart-fill'),
    bar: read('--chart-bar'),
    target: read('--chart-target'),
    grid: read('--chart-grid'),
    axis: read('--text-muted'),
    text: read('--text'),
    font: `12px ${read('--font-sans')}`,
  };
}

/** A uPlot in `el` that keeps to el's width; `options(palette)` is called again when the theme changes. */
function managedChart(el, height, options, data) {
  const chart = { el, height, options, data, plot: null, width: 0 };
  chart.build = () => {
    chart.plot?.destroy();
    chart.width = Math.max(el.clientWidth, 160);
    chart.plot = new uPlot({ ...options(palette()), width: chart.width, height }, chart.data, el);
  };
  chart.build();
  // Only width changes matter, and they are applied on the next frame: resizing inside the
  // observer's callback would make it report a loop.
  new ResizeObserver(() => {
    const width = Math.max(el.clientWidth, 160);
    if (width === chart.width) return;
    chart.width = width;
    requestAnimationFrame(() => chart.plot.setSize({ width: chart.width, height }));
  }).observe(el);
  charts.add(chart);
  return {
    setData(next) {
      chart.data = next;
      chart.plot.setData(next);
    },
  };
}

matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const chart of charts) chart.build();
});

const axis = (p, extra = {}) => ({
  stroke: p.axis,
  font: p.font,
  grid: { stroke: p.grid, width: 1 },
  ticks: { show: false },
  ...extra,
});

/** A small tooltip that follows the cursor: "12:01:07 · 320 hits/s". */
function tooltipPlugin() {
  let tip;
  const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return {
    hooks: {
      init(u) {
        tip = document.createElement('div');
        tip.className = 'chart-tip';
        tip.hidden = true;
        u.over.append(tip);
      },
      setCursor(u) {
        const i = u.cursor.idx;
        if (i == null || u.data[0][i] == null) {
          tip.hidden = true;
          return;
        }
        tip.hidden = false;
        tip.textContent = `${timeOfDay.format(u.data[0][i] * 1000)} · ${count(u.data[1][i] ?? 0)} hits/s`;
        const left = Math.min(Math.max(u.cursor.left - tip.offsetWidth / 2, 0), u.over.clientWidth - tip.offsetWidth);
        tip.style.transform = `translate(${left}px, 4px)`;
      },
    },
  };
}

const hourMinute = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
/** "9:41" on whole minutes, ":30" between them: a five-minute axis needs no more. */
function clockLabel(seconds) {
  const date = new Date(seconds * 1000);
  return date.getSeconds() === 0 ? hourMinute.format(date) : `:${String(date.getSeconds()).padStart(2, '0')}`;
}

// Hits are whole numbers: the y axis never ticks at 0.5.
const WHOLE_STEPS = [1, 2, 5].flatMap((step) => Array.from({ length: 10 }, (_, power) => step * 10 ** power)).sort((a, b) => a - b);

/** Hits per second over time; data is [seconds[], hits[]]. */
export function liveChart(el, data) {
  return managedChart(el, el.clientWidth < 500 ? 180 : 220, (p) => ({
    padding: [12, 12, 0, 4],
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 7, fill: p.line } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] } },
    axes: [
      axis(p, { space: 70, size: 30, values: (_u, splits) => splits.map(clockLabel) }),
      axis(p, { size: 48, incrs: WHOLE_STEPS, values: (_u, splits) => splits.map(compact) }),
    ],
    series: [{}, { stroke: p.line, width: 2, fill: p.fill, points: { show: false } }],
    plugins: [tooltipPlugin()],
  }), data);
}

const PERCENTILES = [['min', 'min'], ['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99'], ['p99_9', 'p99.9'], ['max', 'max']];

/** The report's latency percentiles as bars, each labelled with its value in ms. */
export function latencyChart(el, latencyMs) {
  const xs = PERCENTILES.map((_, i) => i);
  const values = () => PERCENTILES.map(([key]) => latencyMs[key]);
  const chart = managedChart(el, 200, (p) => ({
    padding: [22, 12, 0, 4],
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, range: [-0.5, PERCENTILES.length - 0.5] }, y: { range: (_u, _min, max) => [0, max * 1.12 || 1] } },
    axes: [
      axis(p, { size: 30, grid: { show: false }, splits: () => xs, values: () => PERCENTILES.map(([, label]) => label) }),
      axis(p, { size: 44, values: (_u, splits) => splits.map(ms) }),
    ],
    series: [{}, { fill: p.bar, stroke: p.bar, width: 0, paths: uPlot.paths.bars({ size: [0.62, 64], radius: 0.15 }), points: { show: false } }],
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        ctx.save();
        ctx.font = `600 ${Math.round(11 * devicePixelRatio)}px ${p.font.replace(/^\d+px /, '')}`;
        ctx.fillStyle = p.text;
        ctx.textAlign = 'center';
        u.data[1].forEach((value, i) => {
          ctx.fillText(ms(value), u.valToPos(i, 'x', true), u.valToPos(value, 'y', true) - 6 * devicePixelRatio);
        });
        ctx.restore();
      }],
    },
  }), [xs, values()]);
  return {
    update(next) {
      latencyMs = next;
      chart.setData([xs, values()]);
    },
  };
}

/**
 * A run's rates over its elapsed seconds: the target (the ramp; a gap in closed stages, which have
 * none) dashed, and what was achieved. data is [seconds[], target[], achieved[]].
 */
export function rampChart(el, data) {
  return managedChart(el, 180, (p) => ({
    padding: [12, 12, 0, 4],
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil((max ?? 0) * 1.15))] } },
    axes: [
      axis(p, { size: 30, space: 60, values: (_u, splits) => splits.map(seconds) }),
      axis(p, { size: 48, values: (_u, splits) => splits.map(compact) }),
    ],
    series: [
      {},
      { stroke: p.target, width: 2, dash: [6, 4], points: { show: false } },
      { stroke: p.line, width: 2, fill: p.fill, points: { show: false } },
    ],
  }), data);
}
