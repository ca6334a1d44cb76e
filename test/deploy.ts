// No Docker engine runs here, so the Dockerfile and docker-compose.yml are checked by parsing
// them and comparing them with settings.json, the one source of truth.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { DockerfileParser } from 'dockerfile-ast';
import { parse } from 'yaml';
import { ENV_OVERRIDES, parseSettings } from '../src/settings.js';
import { defaultSettingsJson } from './helpers/app.js';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
const settings = defaultSettingsJson();

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  command?: string[];
  // A variable without a value (null) is passed on from the host's environment, unset when unset there.
  environment?: Record<string, string | null>;
  ports?: string[];
  volumes?: string[];
  networks?: string[];
  configs?: Array<{ source: string; target: string }>;
  depends_on?: Record<string, { condition: string; restart?: boolean }>;
  healthcheck?: { test: string[] };
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
  configs?: Record<string, { content?: string }>;
}
// Compose resolves `<<` merge keys (the shared settings of the Redis nodes), so the parser must too.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
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

test('the Dockerfile starts the server exactly as `npm start` does (its heap limit included)', (t) => {
  const cmd = DockerfileParser.parse(read('Dockerfile')).getInstructions().filter((i) => i.getKeyword() === 'CMD').at(-1)!;
  const pkg = JSON.parse(read('package.json')) as { scripts: { start: string } };
  t.deepEqual(JSON.parse(cmd.getArgumentsContent()!), pkg.scripts.start.split(' '));
  t.true(pkg.scripts.start.split(' ').includes('--max-old-space-size=1024'));
  t.true(pkg.scripts.start.split(' ').includes('--max-semi-space-size=16'), 'the young generation V8 would size at its default without the limit');
});

test('package.json declares the Node versions the Dockerfile and CI use', (t) => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
  t.is(pkg.engines.node, '>=20.19');
});

// ---------------------------------------------------------------------------------------------
// The scale-out deployment: `docker compose --profile cluster up`.

const CLUSTER = 'cluster';
/** Variables an app service may set that are not settings: read from the environment only. */
const PASSTHROUGH = ['HITCOUNTER_ADMIN_TOKEN'];

/** What Compose makes of a value when the variables it names are unset: `${X:-d}` → d, `$$` → `$`. */
const interpolate = (value: string): string =>
  value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (match, _name, fallback: string | undefined) => (match === '$$' ? '$' : fallback ?? ''));

/** The environment a container of `service` gets on a host that sets none of the variables. */
const containerEnv = (service: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).flatMap(([name, value]) => (value === null ? [] : [[name, interpolate(String(value))]])));

/** The value after a command-line flag (`--port 6379` → `6379`). */
const flag = (command: readonly string[], name: string): string | undefined => {
  const at = command.indexOf(name);
  return at < 0 ? undefined : command[at + 1];
};

/** Text that must reach its container verbatim (a script, a config file): Compose interpolates every single `$`. */
function verbatim(t: { false(actual: boolean, message?: string): void }, text: string, what: string): string {
  t.false(text.replace(/\$\$/g, '').includes('$'), `${what} has a single $, which Compose would replace: write $$`);
  return text.replace(/\$\$/g, '$');
}

const services = Object.entries(compose.services);
const cluster = services.filter(([, s]) => s.profiles?.includes(CLUSTER));
const redisNodes = cluster.filter(([, s]) => s.command?.[0] === 'redis-server');
const replicas = cluster.filter(([, s]) => s.build !== undefined);
const nodeAddress = ([name, s]: [string, Service]) => `${name}:${flag(s.command!, '--port') ?? '6379'}`;
const replicaSettings = (s: Service) => parseSettings(settings, containerEnv(s));

// A minimal nginx configuration parser: directives, their arguments and blocks, comments dropped.
interface Directive { name: string; args: string[]; block?: Directive[] }
function parseNginx(text: string): Directive[] {
  const tokens: Array<{ word: string } | { punct: string }> = [];
  for (const m of text.matchAll(/#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#][^\s{};]*)/g)) {
    if (m[0].startsWith('#')) continue;
    tokens.push(m[3] !== undefined ? { punct: m[3] } : { word: m[1] ?? m[2] ?? m[4] ?? '' });
  }
  let at = 0;
  const block = (nested: boolean): Directive[] => {
    const directives: Directive[] = [];
    let words: string[] = [];
    while (at < tokens.length) {
      const token = tokens[at++]!;
      if ('word' in token) {
        words.push(token.word);
        continue;
      }
      if (token.punct === '}') {
        if (!nested || words.length > 0) throw new Error(`nginx: unexpected } after ${words.join(' ')}`);
        return directives;
      }
      const [name, ...args] = words;
      if (name === undefined) throw new Error(`nginx: ${token.punct} without a directive`);
      words = [];
      directives.push(token.punct === ';' ? { name, args } : { name, args, block: block(true) });
    }
    if (nested || words.length > 0) throw new Error('nginx: the configuration ends inside a block or directive');
    return directives;
  };
  return block(false);
}

const nginx = compose.services.nginx!;
function nginxConf(t: { false(actual: boolean, message?: string): void }): Directive[] {
  const mount = nginx.configs?.find((c) => c.target === '/etc/nginx/conf.d/default.conf');
  if (!mount) throw new Error('nginx mounts no config at /etc/nginx/conf.d/default.conf');
  const content = compose.configs?.[mount.source]?.content;
  if (content === undefined) throw new Error(`top-level configs.${mount.source} has no inline content`);
  return parseNginx(verbatim(t, content, `configs.${mount.source}`));
}

test('`docker compose up` is unchanged: only the single Redis and app have no profile, everything else is in the cluster profile', (t) => {
  const defaults = services.filter(([, s]) => !('profiles' in s)).map(([name]) => name);
  t.deepEqual(defaults.sort(), ['app', 'redis']);
  for (const [name, s] of services) {
    if ('profiles' in s) t.deepEqual(s.profiles, [CLUSTER], name);
    // A default service that needed a cluster one would not start without the profile.
    if (!('profiles' in s)) for (const dependency of Object.keys(s.depends_on ?? {})) t.true(defaults.includes(dependency), `${name} depends on ${dependency}`);
  }
});

test('cluster profile: six Redis nodes in cluster mode with AOF, each on its own volume, unpublished, on internal networks only', (t) => {
  t.is(redisNodes.length, 6, redisNodes.map(([name]) => name).join(', '));
  const volumes = new Set<string>();
  for (const [name, s] of redisNodes) {
    const command = s.command!;
    t.is(s.image, redis.image, `${name} runs the same Redis as the single-node deployment`);
    t.is(flag(command, '--cluster-enabled'), 'yes', name);
    t.truthy(flag(command, '--cluster-config-file'), name);
    t.is(flag(command, '--appendonly'), 'yes', name);
    t.is(flag(command, '--appendfsync'), settings.redis.embedded.appendfsync, name);
    t.regex(s.healthcheck?.test.join(' ') ?? '', /redis-cli.*ping/, name);
    t.is(s.ports, undefined, `${name} is published to the host, and has no password`);
    const data = s.volumes?.find((volume) => volume.endsWith(':/data'))?.split(':')[0];
    t.truthy(data && compose.volumes && data in compose.volumes, `${name} keeps /data in a named volume`);
    t.false(volumes.has(data!), `${name} shares its volume ${data}`);
    volumes.add(data!);
    t.true((s.networks ?? []).length > 0, `${name} is on the default network, which is not internal`);
    for (const network of s.networks ?? []) t.true(compose.networks?.[network]?.internal, `${name}: network ${network} is not internal`);
  }
});

test('cluster profile: the init job creates one cluster, a replica per master, over exactly the six nodes, and only once', (t) => {
  const init = compose.services['redis-cluster-init']!;
  t.deepEqual(init.profiles, [CLUSTER]);
  t.is(init.restart, 'no');
  t.deepEqual(init.depends_on, Object.fromEntries(redisNodes.map(([name]) => [name, { condition: 'service_healthy' }])));
  t.true(redisNodes.every(([, s]) => s.networks?.some((network) => init.networks?.includes(network))), 'the init job shares a network with every node');
  const [shell, dashC, script, , ...nodes] = init.command ?? [];
  t.is(shell, 'sh');
  t.is(dashC, '-c');
  t.deepEqual([...nodes].sort(), redisNodes.map(nodeAddress).sort(), 'the script\'s arguments ("$@") are the nodes, on the port each listens on');
  const body = verbatim(t, script ?? '', 'the init script');
  t.regex(body, /^\s*redis-cli --cluster create \S+ --cluster-replicas 1 --cluster-yes$/m);
  t.regex(body, /for node in "\$@"/, 'the addresses are built from the nodes passed as arguments');
  // Idempotent: a node that already knows the others is not created again, and success means cluster_state:ok.
  t.regex(body, /cluster_known_nodes/);
  t.regex(body, /cluster_state/);
});

test('cluster profile: every replica is the app on the six nodes with shards, started once the cluster is formed, behind the proxy', (t) => {
  t.is(replicas.length, 3, replicas.map(([name]) => name).join(', '));
  const nodes = redisNodes.map(nodeAddress).sort();
  t.is(nodes.length, 6);
  for (const [name, s] of replicas) {
    const parsed = replicaSettings(s); // throws, naming the field, if the app would refuse to start
    t.deepEqual([...parsed.redis.cluster.nodes].sort(), nodes, `${name}: REDIS_CLUSTER_NODES`);
    t.true(parsed.redis.shards >= 2, `${name}: REDIS_SHARDS is ${parsed.redis.shards}: the ranking would sit on one master`);
    t.true(parsed.server.trustProxy, `${name}: behind nginx every client would look like nginx`);
    t.deepEqual(parsed.server.trustedProxies, ['uniquelocal'], `${name}: nginx comes from a private compose network, not loopback: its X-Forwarded-For would be ignored`);
    t.is(parsed.server.host, '0.0.0.0', name);
    t.is(parsed.server.port, settings.server.port, name);
    t.is(s.ports, undefined, `${name} is published: with TRUST_PROXY anyone reaching it directly could claim any address`);
    t.deepEqual(s.depends_on, { 'redis-cluster-init': { condition: 'service_completed_successfully' } }, name);
    t.deepEqual(s.healthcheck?.test, app.healthcheck?.test, name);
    t.is(s.environment?.HITCOUNTER_ADMIN_TOKEN, app.environment?.HITCOUNTER_ADMIN_TOKEN, name);
    t.true(redisNodes.every(([, node]) => node.networks?.some((network) => s.networks?.includes(network))), `${name} shares a network with every node`);
    t.true(nginx.networks?.some((network) => s.networks?.includes(network)), `${name} shares a network with nginx`);
  }
});

test('every variable compose gives an app is a setting (ENV_OVERRIDES) or a documented passthrough', (t) => {
  const readme = read('README.md');
  for (const name of PASSTHROUGH) t.true(readme.includes(`\`${name}\``), `README does not document ${name}`);
  const apps = services.filter(([, s]) => s.build !== undefined);
  t.true(apps.length > replicas.length, 'the single app and the replicas');
  for (const [name, s] of apps) {
    t.false(Array.isArray(s.environment), `${name}: environment as a mapping`);
    for (const variable of Object.keys(s.environment ?? {})) {
      t.true(variable in ENV_OVERRIDES || PASSTHROUGH.includes(variable), `${name}: ${variable} is read by nothing`);
    }
  }
});

test('cluster profile: nginx proxies to exactly the replicas on the app\'s port, keeps connections open and passes the client address', (t) => {
  const conf = nginxConf(t);
  const servers = conf.filter((d) => d.name === 'server');
  t.is(servers.length, 1);
  const server = servers[0]!.block ?? [];
  const locations = server.filter((d) => d.name === 'location');
  const proxied = locations.filter((l) => l.block?.some((d) => d.name === 'proxy_pass'));
  t.true(proxied.length > 0);
  const targets = new Set(proxied.map((l) => l.block!.find((d) => d.name === 'proxy_pass')!.args[0]));
  t.is(targets.size, 1, `every location proxies to the one upstream: ${[...targets].join(', ')}`);
  const upstreamName = [...targets][0]!.replace(/^http:\/\//, '');
  const upstream = conf.find((d) => d.name === 'upstream' && d.args[0] === upstreamName)?.block ?? [];
  const members = upstream.filter((d) => d.name === 'server').map((d) => d.args[0]);
  t.deepEqual(members.sort(), replicas.map(([name, s]) => `${name}:${replicaSettings(s).server.port}`).sort());
  t.true(members.every((member) => member?.endsWith(`:${settings.server.port}`)), 'the app listens on settings.json server.port');
  t.truthy(upstream.find((d) => d.name === 'keepalive'), 'keepalive to the replicas');
  // nginx inherits a directive from the server block only into locations that set none of their own.
  const effective = (location: Directive, name: string) => {
    const own = location.block!.filter((d) => d.name === name);
    return (own.length > 0 ? own : server.filter((d) => d.name === name)).map((d) => d.args);
  };
  for (const location of proxied) {
    const where = `location ${location.args.join(' ')}`;
    t.deepEqual(effective(location, 'proxy_http_version'), [['1.1']], where);
    const headers = new Map(effective(location, 'proxy_set_header').map(([name, value]) => [name!.toLowerCase(), value]));
    t.is(headers.get('connection'), '', `${where}: upstream keepalive needs Connection ""`);
    t.is(headers.get('x-forwarded-for'), '$proxy_add_x_forwarded_for', where);
    t.is(headers.get('x-real-ip'), '$remote_addr', where);
  }
});

test('cluster profile: nginx streams /stats/stream unbuffered, never retries a hit, and publishes a port of its own', (t) => {
  const conf = nginxConf(t);
  const server = conf.find((d) => d.name === 'server')?.block ?? [];
  const locations = server.filter((d) => d.name === 'location');
  t.false(locations.some((l) => ['~', '~*'].includes(l.args[0]!)), 'this test models exact and prefix locations only');
  // nginx's choice: an exact match, else the longest matching prefix.
  const locationFor = (path: string) =>
    locations.find((l) => l.args[0] === '=' && l.args[1] === path) ??
    locations.filter((l) => l.args[0] !== '=' && path.startsWith(l.args.at(-1)!)).sort((a, b) => b.args.at(-1)!.length - a.args.at(-1)!.length)[0];
  const setting = (path: string, name: string) => {
    const location = locationFor(path);
    t.truthy(location?.block?.some((d) => d.name === 'proxy_pass'), `${path} is proxied`);
    return (location?.block?.find((d) => d.name === name) ?? server.find((d) => d.name === name))?.args;
  };
  t.deepEqual(setting('/stats/stream', 'proxy_buffering'), ['off']);
  t.deepEqual(setting('/api/hello/world', 'proxy_next_upstream'), ['off'], 'a hit sent to a second replica could count twice');
  t.deepEqual(setting('/api', 'proxy_next_upstream'), ['off']);

  t.is(cluster.filter(([, s]) => s.ports !== undefined).map(([name]) => name).join(), 'nginx', 'only nginx is published');
  t.is(nginx.ports?.length, 1);
  const [hostPort, containerPort] = interpolate(nginx.ports![0]!).split(':');
  const listen = server.find((d) => d.name === 'listen')?.args[0]?.split(':').at(-1);
  t.is(containerPort, listen, 'nginx listens on the port compose publishes');
  t.not(hostPort, app.ports![0]!.split(':')[0], 'both deployments can run at once');
  t.deepEqual(
    nginx.depends_on,
    Object.fromEntries(replicas.map(([name]) => [name, { condition: 'service_healthy', restart: true }])),
  );
});
