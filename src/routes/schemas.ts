// The zod schemas of query, path and body parameters, with exact messages in the p-limit style:
// Expected `n` to be an integer from 1 to 1000000. `{name}` stands for the parameter's name;
// validate() (declare.ts) puts it in. Each schema renders in the document as what it accepts.
import { z } from 'zod';
import { normalizeDecodedPath } from '../hits/normalize.js';

const integerWords = (min: number, max: number | undefined) =>
  max !== undefined ? `an integer from ${min} to ${max}` : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;

/**
 * An integer, as a decimal string (query) or a JSON number (body). Rendered as an integer with
 * its bounds: preprocess leaves the document to the schema it feeds.
 */
export function integer(min: number, max?: number) {
  const error = `Expected \`{name}\` to be ${integerWords(min, max)}`;
  let schema = z.number({ error }).int({ error }).min(min, { error });
  if (max !== undefined) schema = schema.max(max, { error });
  return z.preprocess((raw) => (typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : raw), schema);
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `Expected \`{name}\` to be one of: ${values.join(', ')}` });
}

/** 1/true or 0/false, as a query string or a JSON boolean. */
export function flag() {
  const error = 'Expected `{name}` to be 1, 0, true or false';
  return z
    .union([z.boolean(), z.enum(['1', '0', 'true', 'false'])], { error })
    .transform((raw) => raw === true || raw === '1' || raw === 'true');
}

/** An ISO 8601 instant, as ms since the epoch. */
export function instant() {
  const error = 'Expected `{name}` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z';
  return z
    .string({ error })
    .regex(/^\d{4}-\d{2}-\d{2}T/, { error })
    .transform((raw, ctx) => {
      const time = Date.parse(raw);
      if (Number.isNaN(time)) ctx.issues.push({ code: 'custom', message: error, input: raw });
      return time;
    })
    .meta({ format: 'date-time' });
}

/**
 * A path under /api, normalized like a hit. The URL parser has decoded it once already, as a
 * hit's path is decoded once: it is compared with stored paths as is.
 */
export function apiPath() {
  const error = 'Expected `{name}` to be a path under /api, such as /api/users';
  return z
    .string({ error })
    .regex(/^\/api/, { error })
    .transform((raw, ctx) => {
      try {
        return normalizeDecodedPath(raw);
      } catch {
        ctx.issues.push({ code: 'custom', message: error, input: raw });
        return z.NEVER;
      }
    });
}

/** A query of the given parameters and no others (validate() words the unknown ones). */
export const query = <S extends z.ZodRawShape>(shape: S) => z.strictObject(shape);

/** Every error body: {"error": "<message>"}. */
export const ErrorBody = z
  .object({ error: z.string().meta({ description: 'What went wrong, in a sentence a person can act on.' }) })
  .meta({ id: 'Error', description: 'Every error, from every endpoint.' });

/** The validator a client sends back (GET with an ETag): 304 when it still holds. Read by Koa's ctx.fresh. */
export const conditionalHeaders = z.object({
  'If-None-Match': z.string().optional().meta({ description: 'The `ETag` of a copy you have: 304 when it is still current.', param: { id: 'IfNoneMatch' } }),
});
