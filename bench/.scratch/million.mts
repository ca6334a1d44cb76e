import got from 'got';
import { build, rssBytes, startNode, startRedis, UNLIMITED } from '../lib.js';
import { millionPhase } from '../loadgen-million.js';
await build();
const { redis, cleanup } = await startRedis();
const s = await startNode('dist/server.js', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench:m:`, RATE_LIMITS: UNLIMITED, WORKERS: '1', ...JSON.parse(process.env.EXTRA_ENV ?? '{}') }, '/health', process.argv.slice(3));
const pid = s.child.pid!;
let on = true; const t0 = performance.now(); let peak = 0; const samples: string[] = [];
const sampler = (async () => {
  while (on) {
    const m = await got(`${s.url}/metrics`).text().catch(() => '');
    const g = (name: string) => Math.round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(m)?.[1] ?? 0) / 2 ** 20);
    const rss = Math.round((await rssBytes(pid)) / 2 ** 20);
    if (rss > peak) peak = rss;
    const sp = (space: string) => Math.round(Number(new RegExp(`^hitcounter_nodejs_heap_space_size_total_bytes\\{space="${space}"\\} ([0-9.e+]+)`, 'm').exec(m)?.[1] ?? 0) / 2 ** 20);
    samples.push(`${Math.round((performance.now() - t0) / 1000)}s rss ${rss} heapUsed ${g('hitcounter_nodejs_heap_size_used_bytes')} heapTotal ${g('hitcounter_nodejs_heap_size_total_bytes')} new ${sp('new')} old ${sp('old')} ext ${g('hitcounter_nodejs_external_memory_bytes')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
})();
const r = await millionPhase(s, { requests: Number(process.argv[2] ?? 1e6), rate: 4000 });
on = false; await sampler;
console.log(samples.filter((_, i) => i % 4 === 0).join('\n'));
console.log(JSON.stringify({ before: r.rssBeforeMB, peak: r.rssPeakMB, growth: r.rssGrowthMB, rps: r.requestsPerSecond, health: r.health, dur: r.durationMs }));
await s.stop(); await cleanup();
