// Redis security: password (requirepass) and TLS (rediss://) URLs, with real redis-server processes.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import test from 'ava';
import getPort from 'get-port';
import got from 'got';
import { startRedisServer } from '../src/redis/embedded.js';
import { redisServerBinary } from './helpers/redis.js';
import { spawnServer } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

test('a wrong Redis password shows as Redis down, not as a crash', async (t) => {
  const dir = await tempDir(t);
  const redisPort = await getPort();
  const secured = await startRedisServer({ binary: await redisServerBinary(), port: redisPort, dir, appendfsync: 'everysec', startTimeoutMs: 10_000, password: 'right' });
  t.teardown(() => secured.stop());
  const server = spawnServer({ REDIS_URL: `redis://:wrong@127.0.0.1:${redisPort}` });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  const health = await got(`${base}/health`, { throwHttpErrors: false }).json<{ status: string }>();
  t.is(health.status, 'down');
  t.false(server.output().includes(':wrong@'));
});

test('a rediss:// URL with a private CA (redis.tlsCaFile) connects over TLS and counts', async (t) => {
  const dir = await tempDir(t);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=hitcounter-test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await writeFile(`${dir}/ext.cnf`, 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf');
  const [plainPort, tlsPort] = [await getPort(), await getPort()];
  const secured = await startRedisServer({
    binary: await redisServerBinary(), port: plainPort, dir, appendfsync: 'everysec', startTimeoutMs: 10_000,
    extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', `${dir}/server.crt`, '--tls-key-file', `${dir}/server.key`, '--tls-ca-cert-file', `${dir}/ca.crt`, '--tls-auth-clients', 'no'],
  });
  t.teardown(() => secured.stop());
  const server = spawnServer({ REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, REDIS_TLS_CA_FILE: `${dir}/ca.crt` });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  t.deepEqual(await got(`${base}/api/over-tls`).json(), { path: '/api/over-tls', hits: 1 });
  const health = await got(`${base}/health`).json<{ status: string }>();
  t.is(health.status, 'ok');
});
