// No Docker engine runs here, so the Dockerfile and docker-compose.yml are checked by parsing
// them and comparing them with settings.json, the one source of truth.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { DockerfileParser } from 'dockerfile-ast';
import { parse } from 'yaml';
import { defaultSettingsJson } from './helpers/app.js';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
const settings = defaultSettingsJson();

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
const app = compose.services.app!;
const redis = compose.services.redis!;

test('compose publishes the app on the port the app listens on', (t) => {
  const listens = Number(app.environment?.PORT ?? settings.server.port);
  t.is(listens, settings.server.port);
  t.deepEqual(app.ports, [`${settings.server.port}:${settings.server.port}`]);
  t.is(app.environment?.HOST, '0.0.0.0', 'inside a container the app must listen on every interface');
});

test('compose keeps the Redis key of settings.json', (t) => {
  t.is(app.environment?.REDIS_KEY ?? settings.redis.key, settings.redis.key);
  t.is(app.environment?.REDIS_KEY_PREFIX ?? settings.redis.keyPrefix, settings.redis.keyPrefix);
});

test('compose points the app at its own password-protected Redis', (t) => {
  const url = new URL(app.environment!.REDIS_URL!.replace('${REDIS_PASSWORD:-change-me}', 'secret'));
  t.is(url.protocol, 'redis:');
  t.is(url.hostname, 'redis');
  t.is(url.password, 'secret');
  const command = redis.command!.join(' ');
  t.regex(command, /--requirepass \$\{REDIS_PASSWORD/);
});

test('compose runs Redis with AOF and appendfsync everysec, like the embedded Redis', (t) => {
  const command = redis.command!.join(' ');
  t.regex(command, /--appendonly yes/);
  t.regex(command, new RegExp(`--appendfsync ${settings.redis.embedded.appendfsync}`));
});

test('compose starts the app only once Redis is healthy, and checks the app\'s own health', (t) => {
  t.deepEqual(app.depends_on, { redis: { condition: 'service_healthy' } });
  t.truthy(redis.healthcheck);
  t.regex(app.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${settings.server.port}/health`));
});

test('the Dockerfile is multi-stage, on the Node LTS image, and runs as a non-root user', (t) => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'));
  const froms = dockerfile.getFROMs();
  t.true(froms.length >= 2, 'multi-stage');
  const nodeImage = dockerfile.getInitialARGs().find((arg) => arg.getProperty()?.getName() === 'NODE_IMAGE');
  t.is(nodeImage?.getProperty()?.getValue(), 'node:lts-slim');
  const last = froms.at(-1)!;
  const finalStage = dockerfile.getInstructions().filter((i) => i.getRange().start.line > last.getRange().start.line);
  const users = finalStage.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArgumentsContent());
  t.true(users.length > 0 && !['root', '0'].includes(users.at(-1)!), `final USER is ${users.at(-1)}`);
  const exposed = finalStage.filter((i) => i.getKeyword() === 'EXPOSE').map((i) => i.getArgumentsContent());
  t.deepEqual(exposed, [String(settings.server.port)]);
  t.regex(finalStage.find((i) => i.getKeyword() === 'HEALTHCHECK')!.getArgumentsContent()!, /\/health/);
  t.regex(finalStage.find((i) => i.getKeyword() === 'COPY' && /settings\.json/.test(i.getArgumentsContent()!))!.getArgumentsContent()!, /settings\.json/);
});

test('package.json declares the Node versions the Dockerfile and CI use', (t) => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
  t.is(pkg.engines.node, '>=20.19');
});
