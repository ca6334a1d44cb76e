// wrk (https://github.com/wg/wrk), when installed: a closed-loop load generator in C, a second
// reference next to autocannon for the load generator's latencies. Its absence is never an error:
// findWrk answers null and the bench says "wrk not installed".
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import which from 'which';

const run = promisify(execFile);
const script = fileURLToPath(new URL('wrk-report.lua', import.meta.url));

export interface WrkResult {
  rps: number;
  /** Latencies in ms (wrk's histogram is in µs). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  /** Socket errors and non-2xx/3xx answers. */
  errors: number;
}

/** wrk's path on `path` (the PATH by default), or null. */
export async function findWrk(path = process.env.PATH): Promise<string | null> {
  return which('wrk', { nothrow: true, ...(path === undefined ? {} : { path }) });
}

/**
 * `wrk -t1 -c<connections> -d<seconds>s url`: one thread, as autocannon and the generator's one
 * worker on a 2-core machine. wrk takes whole seconds only, so it cannot send an exact count.
 */
export async function runWrk(wrk: string, url: string, options: { connections: number; seconds: number }): Promise<WrkResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${Math.max(1, Math.round(options.seconds))}s`, '-s', script, url];
  const { stdout } = await run(wrk, args, { timeout: (options.seconds + 30) * 1000 });
  const line = stdout.split('\n').find((l) => l.startsWith('{"wrk":1'));
  if (!line) throw new Error(`wrk ${args.join(' ')}: no report in its output:\n${stdout}`);
  const r = JSON.parse(line) as { requests: number; durationUs: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number; socketErrors: number; status: number };
  const ms = (us: number) => Math.round(us) / 1000;
  return { rps: r.requests / (r.durationUs / 1e6), p50: ms(r.p50Us), p90: ms(r.p90Us), p99: ms(r.p99Us), max: ms(r.maxUs), requests: r.requests, errors: r.socketErrors + r.status };
}
