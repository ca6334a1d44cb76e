import { readFileSync } from 'node:fs';
import test from 'ava';
import { SettingsError } from '../src/errors.js';
import { ENV_OVERRIDES, loadSettings, parseSettings } from '../src/settings.js';
import { defaultSettingsJson } from './helpers/app.js';

test('settings.json parses with the documented defaults', (t) => {
  const settings = loadSettings({});
  t.is(settings.server.port, 5000);
  t.is(settings.redis.key, 'hits');
  t.is(settings.redis.url, '');
  t.is(settings.redis.embedded.appendfsync, 'everysec');
  t.is(settings.loadtest.maxRequests, 1_000_000);
});

test('settings are frozen all the way down', (t) => {
  const settings = loadSettings({});
  t.true(Object.isFrozen(settings));
  t.true(Object.isFrozen(settings.redis.embedded));
});

test('environment variables override settings.json, keeping numbers numbers', (t) => {
  const settings = parseSettings(defaultSettingsJson(), {
    PORT: '8080',
    REDIS_URL: 'redis://cache:6379/2',
    REDIS_KEY: 'pageviews',
    LOADTEST_MAX_REQUESTS: '500',
    LOADTEST_CONCURRENCY: '10',
  });
  t.is(settings.server.port, 8080);
  t.is(settings.redis.url, 'redis://cache:6379/2');
  t.is(settings.redis.key, 'pageviews');
  t.is(settings.loadtest.maxRequests, 500);
  t.is(settings.loadtest.defaultConcurrency, 10);
});

const badEnv: Array<[Record<string, string>, string]> = [
  [{ PORT: 'abc' }, 'Invalid setting `server.port` (from env PORT): expected an integer from 0 to 65535, got "abc"'],
  [{ PORT: '70000' }, 'Invalid setting `server.port` (from env PORT): expected an integer from 0 to 65535, got 70000'],
  [{ PORT: '1.5' }, 'Invalid setting `server.port` (from env PORT): expected an integer from 0 to 65535, got 1.5'],
  [{ REDIS_URL: 'localhost:6379' }, 'Invalid setting `redis.url` (from env REDIS_URL): expected a redis:// or rediss:// URL, or "" for the embedded Redis, got "localhost:6379"'],
  [{ REDIS_KEY: '' }, 'Invalid setting `redis.key` (from env REDIS_KEY): expected a non-empty key name, got ""'],
  [{ LOG_LEVEL: 'loud' }, 'Invalid setting `log.level` (from env LOG_LEVEL): expected one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
  // Below these, a named window could have no cover and /stats?window= would fail (test/windows.ts).
  [{ ANALYTICS_MINUTE_TTL_SECONDS: '3599' }, 'Invalid setting `analytics.minuteTtlSeconds` (from env ANALYTICS_MINUTE_TTL_SECONDS): expected an integer from 3600 to 315360000, got 3599'],
  [{ ANALYTICS_HOUR_TTL_SECONDS: '86399' }, 'Invalid setting `analytics.hourTtlSeconds` (from env ANALYTICS_HOUR_TTL_SECONDS): expected an integer from 86400 to 315360000, got 86399'],
  [{ ANALYTICS_DAY_TTL_SECONDS: '2678399' }, 'Invalid setting `analytics.dayTtlSeconds` (from env ANALYTICS_DAY_TTL_SECONDS): expected an integer from 2678400 to 315360000, got 2678399'],
  [{ LOADTEST_CONCURRENCY: '2000' }, 'Invalid setting `loadtest.defaultConcurrency` (from env LOADTEST_CONCURRENCY): expected at most loadtest.maxConcurrency (1000), got 2000'],
];

for (const [env, message] of badEnv) {
  test(`a bad override names its field: ${JSON.stringify(env)}`, (t) => {
    t.throws(() => parseSettings(defaultSettingsJson(), env), { instanceOf: SettingsError, message });
  });
}

test('a bad value in settings.json names its field', (t) => {
  const json = defaultSettingsJson();
  (json.loadtest as Record<string, unknown>).maxConcurrency = 0;
  t.throws(() => parseSettings(json), {
    instanceOf: SettingsError,
    message: 'Invalid setting `loadtest.maxConcurrency`: expected an integer from 1 to 10000, got 0',
  });
});

test('an unknown field in settings.json is rejected, so a typo is not silently ignored', (t) => {
  const json = defaultSettingsJson() as unknown as { server: Record<string, unknown> };
  json.server.prot = 5000;
  t.throws(() => parseSettings(json), { instanceOf: SettingsError, message: 'Invalid setting `server`: unknown field(s) prot' });
});

test('a missing settings file is reported with its path', (t) => {
  t.throws(() => loadSettings({}, '/nonexistent/settings.json'), { instanceOf: SettingsError, message: /Cannot read settings from \/nonexistent\/settings.json/ });
});

test('every env override points at a real field, and the README documents each one', (t) => {
  const json = defaultSettingsJson() as unknown as Record<string, unknown>;
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  // Rows of the configuration table: | `ENV` | `settings.path` | default | meaning |
  const documented = new Map([...readme.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*`([\w.]+)`\s*\|/gm)].map((m) => [m[1], m[2]]));
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], json);
    t.not(value, undefined, `${name} → ${path}`);
    t.is(documented.get(name), path, `README row for ${name}`);
  }
  t.deepEqual([...documented.keys()].sort(), Object.keys(ENV_OVERRIDES).sort(), 'the README documents no variable that does not exist');
});
