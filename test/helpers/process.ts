// Runs the real server entry (src/server.ts through tsx) as a child process, with `npm start`'s
// node flags: a test of the server's memory measures the heap limit users run with.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startFlags } from '../../bench/start-command.js';
import { eventually } from './eventually.js';

// Far longer than any clean stop takes, even on a loaded machine (server.shutdownTimeoutMs is 10 s).
export const EXIT_DEADLINE_MS = 120_000;

const entry = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  /** Everything written so far, stdout and stderr. */
  output(): string;
  /** Resolves when a line matching `pattern` has been written; rejects if the server exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /**
   * Resolves with the exit code; rejects, with the server's output, if the process has not exited
   * EXIT_DEADLINE_MS after this is first read (a stop that hangs fails its test instead of holding
   * the file until ava's timeout).
   */
  readonly exited: Promise<number | null>;
  /** The base URL the server logged once listening (PORT defaults to 0: any free port). */
  url(): string;
}

export function spawnServer(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, [...startFlags(), '--import', 'tsx', entry], {
    // One worker unless a test asks for more: the tests read this process's own output and pid.
    // Port 0 and the logged URL, rather than a port picked beforehand: test files run in parallel
    // processes, and a port free when picked can be taken by another before the server binds it.
    env: { ...process.env, LOG_LEVEL: 'info', WORKERS: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const collect = (chunk: Buffer) => { text += chunk.toString(); };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  let exited: Promise<number | null> | undefined;
  // 'close' comes after the last of the output has been read, unlike 'exit'.
  const closed = once(child, 'close').catch(() => undefined);
  return {
    child,
    output: () => text,
    get exited() {
      exited ??= (async () => {
        let gone = false;
        void exit.then(() => { gone = true; });
        try {
          await eventually(() => gone, { timeoutMs: EXIT_DEADLINE_MS, what: 'the server to exit' });
        } catch (error) {
          throw new Error(`${(error as Error).message}; output:\n${text}`);
        }
        return exit;
      })();
      return exited;
    },
    url() {
      const match = /"url":"(http:\/\/[^"]+)","msg":"hitcounter is listening"/.exec(text) ?? /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"hitcounter is listening"/.exec(text);
      if (!match) throw new Error(`the server has not logged its URL yet:\n${text}`);
      return match[1]!;
    },
    async waitFor(pattern, timeoutMs = 120_000) {
      let gone = false;
      void closed.then(() => { gone = true; });
      // A server that exited will never write the line: no point waiting out the deadline.
      try {
        await eventually(() => pattern.test(text) || gone, { timeoutMs, what: `${pattern} in the server's output` });
      } catch (error) {
        throw new Error(`${(error as Error).message}; output:\n${text}`);
      }
      if (!pattern.test(text)) throw new Error(`server exited before writing ${pattern}; output:\n${text}`);
    },
  };
}
