// The load-test panel's stage editor: one row per stage (how it ends, its load, whether it is a
// warm-up), read into the `stages` of POST /test. The API checks the bounds (maxRate, maxStages…)
// and says what is wrong; the editor only makes sure each row says something whole.
import { h } from './dom.js';

const LOAD_LABELS = { concurrency: 'In flight', rate: 'Rate req/s', ramp: 'From req/s' };

const WHOLE = { inputmode: 'numeric', min: '1', step: '1' };
const option = (value, text, selected) => h('option', { value, selected: value === selected, text });

/** A row: `stage` is { end, unit: 's' | 'requests', load: 'concurrency' | 'rate' | 'ramp', value, to, warmup }. */
function stageRow(stage) {
  const number = (name, value, extra = {}) => h('input', { name, type: 'number', inputmode: 'decimal', min: '0', step: 'any', value, ...extra });
  const valueLabel = h('span', { class: 'js-value-label', text: LOAD_LABELS[stage.load] });
  const to = h('label', { class: 'field js-to', hidden: stage.load !== 'ramp' }, h('span', { text: 'To req/s' }), number('to', stage.to ?? '', WHOLE));
  const row = h('fieldset', { class: 'stage-row' },
    h('legend', { class: 'stage-row__legend' }),
    h('label', { class: 'field' }, h('span', { text: 'Ends after' }), number('end', stage.end)),
    h('label', { class: 'field' }, h('span', { class: 'visually-hidden', text: 'Counted in' }),
      h('select', { name: 'unit' }, option('s', 'seconds', stage.unit), option('requests', 'requests', stage.unit))),
    h('label', { class: 'field' }, h('span', { text: 'Load' }),
      h('select', { name: 'load' }, option('rate', 'Rate', stage.load), option('ramp', 'Ramp', stage.load), option('concurrency', 'Concurrency', stage.load))),
    h('label', { class: 'field' }, valueLabel, number('value', stage.value, WHOLE)),
    to,
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'warmup', checked: Boolean(stage.warmup) }), 'Warm-up'),
    h('button', { type: 'button', class: 'button button--ghost stage-row__remove', 'data-remove': '', text: 'Remove' }),
  );
  row.elements.load.addEventListener('change', () => {
    const load = row.elements.load.value;
    valueLabel.textContent = LOAD_LABELS[load];
    to.hidden = load !== 'ramp';
  });
  return row;
}

/** What a row says, as a stage of POST /test, or { error } naming the row. */
function readRow(row, number) {
  const field = (name) => row.elements[name].value.trim();
  const positive = (raw) => (raw !== '' && Number.isFinite(Number(raw)) && Number(raw) > 0 ? Number(raw) : null);
  const whole = (raw) => (/^\d+$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null);
  const fail = (what) => ({ error: `Stage ${number}: ${what}.` });
  const stage = {};
  if (field('unit') === 's') {
    const secondsGiven = positive(field('end'));
    if (secondsGiven === null) return fail('the duration must be a number of seconds above 0');
    stage.durationMs = Math.max(1, Math.round(secondsGiven * 1000));
  } else {
    const requests = whole(field('end'));
    if (requests === null) return fail('the requests must be a whole number of at least 1');
    stage.requests = requests;
  }
  const load = field('load');
  const value = whole(field('value'));
  if (load === 'concurrency') {
    if (value === null) return fail('the concurrency must be a whole number of at least 1');
    stage.concurrency = value;
  } else if (load === 'rate') {
    if (value === null) return fail('the rate must be a whole number of requests per second, at least 1');
    stage.rate = value;
  } else {
    const to = whole(field('to'));
    if (value === null || to === null) return fail('a ramp goes from a whole number of requests per second to another, each at least 1');
    stage.rate = [value, to];
  }
  if (row.elements.warmup.checked) stage.warmup = true;
  return { stage };
}

/** The editor in `rows` (a container), with `add` (a button) to append a stage. */
export function stageEditor({ rows, add }) {
  const renumber = () => {
    const all = [...rows.children];
    all.forEach((row, i) => {
      row.querySelector('legend').textContent = `Stage ${i + 1}`;
      const remove = row.querySelector('[data-remove]');
      remove.setAttribute('aria-label', `Remove stage ${i + 1}`);
      remove.disabled = all.length === 1;
    });
  };

  const append = (stage) => {
    const row = stageRow(stage);
    row.querySelector('[data-remove]').addEventListener('click', () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      renumber();
      next?.querySelector('[data-remove]:not(:disabled)')?.focus();
    });
    rows.append(row);
    renumber();
    return row;
  };

  add.addEventListener('click', () => {
    // A new stage carries on from the last one's rate: a ramp from there to twice as much.
    const last = rows.lastElementChild;
    const lastRate = last && last.elements.load.value !== 'concurrency' ? Number(last.elements[last.elements.load.value === 'ramp' ? 'to' : 'value'].value) || 100 : 100;
    const row = append({ end: 10, unit: 's', load: 'ramp', value: lastRate, to: lastRate * 2 });
    row.elements.end.focus();
  });

  append({ end: 10, unit: 's', load: 'rate', value: 100 });

  return {
    /** { stages } for POST /test, or { error } saying which row is wrong and how. */
    read() {
      const stages = [];
      for (const [i, row] of [...rows.children].entries()) {
        const { stage, error } = readRow(row, i + 1);
        if (error) return { error };
        stages.push(stage);
      }
      return { stages };
    },
  };
}
