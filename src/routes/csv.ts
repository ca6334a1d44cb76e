// CSV answers (/stats.csv, /events.csv), streamed in constant memory.
//
// One Readable over one async generator: an error while reading (Redis gone midway) destroys
// that one stream, which Koa turns into a cut-off response and an 'error' event, never an
// unhandled error that takes the process down (as a `.pipe()` chain did: pipe does not forward
// errors, so the source's 'error' had no listener).
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';

const ROWS_PER_CHUNK = 1000;

// OWASP's CSV injection advice: a cell a spreadsheet would read as a formula starts with a quote.
const FORMULA_START = /^[=+\-@\t\r]/;

/** A cell that a spreadsheet would take for a formula is made plain text: `=1+1` becomes `'=1+1`. */
export const neutralizeFormula = (value: string): string => (FORMULA_START.test(value) ? `'${value}` : value);

const options = (columns: string[], header: boolean) => ({ columns, header, cast: { string: neutralizeFormula } });

async function* csvChunks<T extends object>(first: IteratorResult<T>, rest: AsyncIterator<T>, columns: string[]): AsyncGenerator<string> {
  try {
    yield stringify([], options(columns, true));
    let batch: T[] = [];
    for (let next = first; !next.done; next = await rest.next()) {
      batch.push(next.value);
      if (batch.length < ROWS_PER_CHUNK) continue;
      yield stringify(batch, options(columns, false));
      batch = [];
    }
    if (batch.length > 0) yield stringify(batch, options(columns, false));
  } finally {
    // A client that hangs up ends this generator early: the source's reads end with it.
    await rest.return?.();
  }
}

/**
 * The rows as a CSV stream with a header line. The first row is read before anything is sent,
 * so a Redis that is down from the start gets its 503 rather than a 200 cut short.
 */
export async function csvBody<T extends object>(rows: AsyncIterable<T>, columns: string[]): Promise<Readable> {
  const iterator = rows[Symbol.asyncIterator]();
  const first = await iterator.next();
  return Readable.from(csvChunks(first, iterator, columns));
}
