import got from 'got';
import { build, startNode, startRedis, UNLIMITED } from '../lib.js';
await build();
const { redis, cleanup } = await startRedis();
const s = await startNode('dist/server.js', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench:t:`, RATE_LIMITS: UNLIMITED, WORKERS: '1' }, '/health', process.argv.slice(3));
try {
await got.post(`${s.url}/test/10000?concurrency=50`).json();
const loc = (await got.post(`${s.url}/test/${process.argv[2] ?? 60000}?concurrency=50&async=1`)).headers.location!;
let r: any;
for (;;) { r = await got(`${s.url}${loc}`).json(); if (r.state === 'done' || r.status === 'done' || r.report) break; await new Promise((z) => setTimeout(z, 500)); }
console.log(JSON.stringify(r).slice(0, 300));
const csv = await got(`${s.url}${loc}.csv`).text();
console.log(csv);
} finally { await s.stop(); await cleanup(); }
