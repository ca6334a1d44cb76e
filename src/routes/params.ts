// Query and body parameter checks shared by the routes, with exact messages
// in the p-limit style: Expected `n` to be an integer from 1 to 1000000.
import { BadRequestError } from '../errors.js';

type Raw = unknown;

/** Rejects parameters a route does not know, so a typo is an error rather than silently ignored. */
export function rejectUnknown(params: Record<string, Raw>, known: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (!known.includes(name)) {
      const expected = known.length > 0 ? `expected one of: ${known.join(', ')}` : 'this endpoint takes none';
      throw new BadRequestError(`Unknown parameter \`${name}\`; ${expected}`);
    }
  }
}

function describe(min: number, max: number | undefined): string {
  if (max !== undefined) return `an integer from ${min} to ${max}`;
  return min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
}

/**
 * Parses an integer given as a decimal string (query) or a number (JSON body).
 * Undefined stays undefined so the caller can apply its default.
 */
export function integerParam(name: string, raw: Raw, min: number, max?: number): number | undefined {
  if (raw === undefined) return undefined;
  const message = `Expected \`${name}\` to be ${describe(min, max)}`;
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^\d{1,16}$/.test(raw)) value = Number(raw);
  else throw new BadRequestError(Array.isArray(raw) ? `Expected \`${name}\` only once` : message);
  if (!Number.isSafeInteger(value) || value < min || (max !== undefined && value > max)) throw new BadRequestError(message);
  return value;
}

/** One of a fixed set of words. */
export function enumParam<T extends string>(name: string, raw: Raw, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new BadRequestError(`Expected \`${name}\` only once`);
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T;
  throw new BadRequestError(`Expected \`${name}\` to be one of: ${allowed.join(', ')}`);
}

/** 1/true or 0/false, as a query string or a JSON boolean. */
export function booleanParam(name: string, raw: Raw): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === true || raw === '1' || raw === 'true') return true;
  if (raw === false || raw === '0' || raw === 'false') return false;
  throw new BadRequestError(Array.isArray(raw) ? `Expected \`${name}\` only once` : `Expected \`${name}\` to be 1, 0, true or false`);
}
