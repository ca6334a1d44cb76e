// Phase 2b of npm run bench: a full GET /stats read plain, with gzip and with brotli, from the
// same server and ranking. Compression must shrink the answer without turning a streamed answer
// into a buffered one: its first byte must leave as early as the plain answer's does.
import { get } from 'node:http';
import { median } from './lib.js';

export type Encoding = 'identity' | 'gzip' | 'br';

export interface FullRead {
  encoding: Encoding;
  /** Medians over the repeats: ms to the first body byte, ms to the last, bytes on the wire. */
  firstByteMs: number;
  wallMs: number;
  bytes: number;
  /** bytes / the plain answer's bytes. */
  sizeVsPlain: number;
  /** firstByteMs / the plain answer's firstByteMs. */
  firstByteVsPlain: number;
}

/** One GET, read raw (undecoded) as the socket delivers it. */
function timedRead(url: string, encoding: Encoding): Promise<{ firstByteMs: number; wallMs: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstByteMs = 0;
    let bytes = 0;
    get(url, { headers: { 'Accept-Encoding': encoding } }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`${url}: ${response.statusCode}`));
      if ((response.headers['content-encoding'] ?? 'identity') !== encoding) reject(new Error(`${url}: asked for ${encoding}, got ${response.headers['content-encoding']}`));
      response.on('data', (chunk: Buffer) => {
        if (bytes === 0) firstByteMs = performance.now() - t0;
        bytes += chunk.length;
      });
      response.once('end', () => resolve({ firstByteMs, wallMs: performance.now() - t0, bytes }));
      response.once('error', reject);
    }).once('error', reject);
  });
}

/**
 * `repeats` reads of `url` in each encoding, interleaved (plain, gzip, br, plain, …) so that a
 * machine's drift falls on all three alike, and their medians with the ratios to plain.
 */
export async function fullReads(url: string, repeats: number): Promise<FullRead[]> {
  const encodings: Encoding[] = ['identity', 'gzip', 'br'];
  const samples = new Map<Encoding, Array<{ firstByteMs: number; wallMs: number; bytes: number }>>(encodings.map((e) => [e, []]));
  // One unmeasured read of each first: the server's first compressor and JIT warm-up are not the answer's cost.
  for (const encoding of encodings) await timedRead(url, encoding);
  for (let i = 0; i < repeats; i++) {
    for (const encoding of encodings) samples.get(encoding)!.push(await timedRead(url, encoding));
  }
  const of = (encoding: Encoding) => {
    const s = samples.get(encoding)!;
    return { firstByteMs: median(s.map((x) => x.firstByteMs)), wallMs: median(s.map((x) => x.wallMs)), bytes: median(s.map((x) => x.bytes)) };
  };
  const plain = of('identity');
  const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;
  return encodings.map((encoding) => {
    const m = of(encoding);
    return {
      encoding,
      firstByteMs: round(m.firstByteMs, 1),
      wallMs: Math.round(m.wallMs),
      bytes: m.bytes,
      sizeVsPlain: round(m.bytes / plain.bytes, 3),
      firstByteVsPlain: round(m.firstByteMs / plain.firstByteMs, 2),
    };
  });
}
