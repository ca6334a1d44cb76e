// Number and duration formatting, in the reader's locale.
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fine = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

export const count = (value) => integer.format(value);
export const compact = (value) => (Math.abs(value) < 10_000 ? integer.format(value) : compactFormat.format(value));
export const percent = (fraction) => percentFormat.format(fraction);

/** Milliseconds with the precision that matters at their size. */
export function ms(value) {
  if (value >= 100) return integer.format(value);
  if (value >= 10) return decimal.format(value);
  return fine.format(value);
}

/** Seconds on an axis: "12 s", "2.5 s". */
export const seconds = (value) => `${decimal.format(value)} s`;

export function duration(milliseconds) {
  if (milliseconds < 1000) return `${integer.format(milliseconds)} ms`;
  if (milliseconds < 60_000) return `${decimal.format(milliseconds / 1000)} s`;
  const minutes = Math.floor(milliseconds / 60_000);
  return `${minutes} min ${Math.round((milliseconds % 60_000) / 1000)} s`;
}
