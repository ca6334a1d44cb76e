// The embedded default behind `npm start`: without REDIS_URL, hitcounter reuses a Redis already
// listening on the embedded port, or starts its own redis-server child with a data directory
// and AOF persistence, and stops that child when it exits. The tests start theirs through here too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import which from 'which';
import { EmbeddedRedisError } from '../errors.js';

// Debian puts redis-server in /usr/sbin, which is not on every user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];

export const INSTALL_HELP = `redis-server was not found, and hitcounter needs it for its embedded Redis.
Install it, then run \`npm start\` again:
  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y redis-server
  Fedora/RHEL:    sudo dnf install -y redis
  macOS:          brew install redis
Or use a Redis you already have:  REDIS_URL=redis://127.0.0.1:6379 npm start
Or run everything in containers:  docker compose up`;

export const defaultSearchPath = (): string => [process.env.PATH ?? '', ...EXTRA_DIRS].join(':');

export async function findRedisServer(searchPath = defaultSearchPath()): Promise<string | undefined> {
  return (await which('redis-server', { path: searchPath, nothrow: true })) ?? undefined;
}

/** apt-get can install it here: Debian (or a derivative) and running as root. */
export const canAptInstall = (): boolean =>
  process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/etc/debian_version');

type Say = (message: string) => void;

/** Finds redis-server; installs it with apt on Debian when running as root; otherwise explains how to get it. */
export async function ensureRedisServer(say: Say, { searchPath = defaultSearchPath(), install = canAptInstall() } = {}): Promise<string> {
  const found = await findRedisServer(searchPath);
  if (found) return found;
  if (install) {
    say('redis-server is missing; installing it with apt-get (Debian, running as root)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', 'redis-server']]) {
      const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
      if (result.status !== 0) throw new EmbeddedRedisError(`apt-get ${args.join(' ')} failed.\n${INSTALL_HELP}`);
    }
    const installed = await findRedisServer(searchPath);
    if (installed) return installed;
  }
  throw new EmbeddedRedisError(INSTALL_HELP);
}

/** The process id of the Redis answering on host:port, or undefined when none answers. */
export async function redisPid(port: number, host = '127.0.0.1', password?: string, timeoutMs = 500): Promise<number | undefined> {
  const probe = new Redis({ port, host, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const info = await probe.info('server');
    return Number(/^process_id:(\d+)/m.exec(info)?.[1] ?? -1);
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}

/** True when something on host:port answers like a Redis. */
export async function redisAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await redisPid(port, host)) !== undefined;
}

export interface RedisServerOptions {
  binary: string;
  port: number;
  dir: string;
  appendfsync: 'always' | 'everysec' | 'no';
  startTimeoutMs: number;
  /** requirepass: clients, this module's probe included, must authenticate. */
  password?: string;
  /** More redis-server options, e.g. TLS settings. */
  extraArgs?: string[];
}

/** A redis-server child process. stop() is safe to call twice. */
export class RedisServerProcess {
  #stopped: Promise<void> | undefined;
  #exited: Promise<void>;

  constructor(readonly child: ChildProcess, readonly port: number, readonly dir: string) {
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM lets Redis fsync its AOF before exiting; SIGKILL only if it hangs. */
  stop(timeoutMs = 5000): Promise<void> {
    this.#stopped ??= (async () => {
      if (!this.running) return;
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.#exited;
      clearTimeout(timer);
    })();
    return this.#stopped;
  }

  /** Simulates a crash: no AOF flush beyond what appendfsync already wrote. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.#exited;
  }
}

export async function startRedisServer(options: RedisServerOptions): Promise<RedisServerProcess> {
  mkdirSync(options.dir, { recursive: true });
  const args = [
    '--port', String(options.port),
    '--bind', '127.0.0.1',
    '--dir', options.dir,
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync,
    '--save', '',
    '--daemonize', 'no',
    '--logfile', '',
    ...(options.password ? ['--requirepass', options.password] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const server = new RedisServerProcess(child, options.port, options.dir);

  const deadline = Date.now() + options.startTimeoutMs;
  while (Date.now() < deadline) {
    if (!server.running) break;
    // Our child, not some other Redis that already held the port.
    if ((await redisPid(options.port, '127.0.0.1', options.password)) === child.pid) return server;
    await sleep(50);
  }
  await server.stop();
  throw new EmbeddedRedisError(`redis-server did not start on port ${options.port} within ${options.startTimeoutMs} ms:\n${output.trim()}`);
}
