import { readFileSync } from 'node:fs';
import { loadgenTargets } from '../targets.js';
const j = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
for (const r of loadgenTargets({ latency: j.loadgen, search: j.search, million: j.million, ceiling: j.ceiling })) console.log(r.verdict, r.figure, r.target.slice(0, 70));
