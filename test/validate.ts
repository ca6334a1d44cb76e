// The one validator: every schema failure becomes a 400 with the exact message the API has always
// given, named after the parameter.
import test from 'ava';
import { HttpError } from '../src/errors.js';
import { validate } from '../src/routes/declare.js';
import { apiPath, flag, instant, integer, oneOf, query } from '../src/routes/schemas.js';

const schema = query({
  n: integer(1, 1000000).optional(),
  offset: integer(0).optional(),
  limit: integer(1).optional(),
  format: oneOf(['json', 'csv']).optional(),
  uniques: flag().optional(),
  from: instant().optional(),
  prefix: apiPath().optional(),
});

const refused = (t: import('ava').ExecutionContext, input: Record<string, unknown>, message: string) => {
  const error = t.throws(() => validate(schema, input), { instanceOf: HttpError });
  t.is(error?.status, 400);
  t.is(error?.message, message);
};

test('integers: decimal strings or JSON numbers, within bounds, with p-limit style messages', (t) => {
  t.deepEqual(validate(schema, { n: '1000000', offset: 0, limit: '7' }), { n: 1000000, offset: 0, limit: 7 });
  refused(t, { n: '0' }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { n: '1000001' }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { n: '1.5' }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { n: 1.5 }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { n: '-1' }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { n: '' }, 'Expected `n` to be an integer from 1 to 1000000');
  refused(t, { offset: 'x' }, 'Expected `offset` to be a non-negative integer');
  refused(t, { limit: '0' }, 'Expected `limit` to be an integer of at least 1');
  refused(t, { limit: '99999999999999999' }, 'Expected `limit` to be an integer of at least 1');
});

test('a parameter given twice is named as such, whatever its type', (t) => {
  refused(t, { n: ['1', '2'] }, 'Expected `n` only once');
  refused(t, { format: ['csv', 'csv'] }, 'Expected `format` only once');
  refused(t, { uniques: ['1', '0'] }, 'Expected `uniques` only once');
});

test('words, flags, instants and paths', (t) => {
  t.deepEqual(validate(schema, { format: 'csv', uniques: 'true' }), { format: 'csv', uniques: true });
  t.deepEqual(validate(schema, { uniques: '0' }), { uniques: false });
  t.deepEqual(validate(schema, { uniques: false }), { uniques: false });
  refused(t, { format: 'xml' }, 'Expected `format` to be one of: json, csv');
  refused(t, { uniques: 'yes' }, 'Expected `uniques` to be 1, 0, true or false');
  t.deepEqual(validate(schema, { from: '2026-11-24T08:00:00Z' }), { from: Date.parse('2026-11-24T08:00:00Z') });
  refused(t, { from: 'yesterday' }, 'Expected `from` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z');
  refused(t, { from: '2026-13-45T99:00:00Z' }, 'Expected `from` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z');
  t.deepEqual(validate(schema, { prefix: '/api/blog/' }), { prefix: '/api/blog' });
  refused(t, { prefix: '/stats' }, 'Expected `prefix` to be a path under /api, such as /api/users');
  refused(t, { prefix: '/api/../etc' }, 'Expected `prefix` to be a path under /api, such as /api/users');
});

test('an unknown parameter is a 400 that lists the known ones, before any other problem', (t) => {
  refused(t, { n: '0', nn: '1' }, 'Unknown parameter `nn`; expected one of: n, offset, limit, format, uniques, from, prefix');
  const error = t.throws(() => validate(query({}), { a: '1' }), { instanceOf: HttpError });
  t.is(error?.message, 'Unknown parameter `a`; this endpoint takes none');
});
