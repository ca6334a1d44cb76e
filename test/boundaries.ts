// The import boundaries (scripts/dependency-rules.cjs), checked by dependency-cruiser over src/,
// bench/ and scripts/: layering, the lean load-generator worker, no cycles in src/. The rules and
// why are in that file and in each src/ folder's README.md.
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RULES = `${ROOT}scripts/dependency-rules.cjs`;
const TSCONFIG = `${ROOT}tsconfig.json`;

/** One line per violation: the rule, what imports what, and the way there (a cycle, a transitive path). */
function describe(violation: IViolation): string {
  const path = violation.cycle ?? violation.via;
  const chain = path ? `\n      via ${[violation.from, ...path.map((step) => step.name)].join(' → ')}` : '';
  return `  ${violation.rule.name} (${violation.rule.severity}): ${violation.from} → ${violation.to}${chain}`;
}

async function cruiseAll(): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(RULES);
  const { output } = await cruise(
    ['src', 'bench', 'scripts'],
    // `.js` specifiers name `.ts` files (NodeNext): resolved through tsconfig.json.
    { ...options, baseDir: ROOT, tsConfig: { fileName: TSCONFIG } },
    undefined,
    { tsConfig: extractTSConfig(TSCONFIG) },
  );
  if (typeof output === 'string') throw new Error(`dependency-cruiser returned text, not a result:\n${output}`);
  return output;
}

test('src/, bench/ and scripts/ keep to scripts/dependency-rules.cjs', async (t) => {
  t.timeout(120_000);
  const result = await cruiseAll();
  const { modules, summary } = result;

  // The rules only mean something if the graph is whole: every import of our own code resolved
  // (a `.js` specifier left unresolved would hide whatever the `.ts` file imports).
  const unresolved = modules.flatMap((module) => module.dependencies
    .filter((dependency) => dependency.couldNotResolve)
    .map((dependency) => `${module.source} → ${dependency.module}`));
  t.deepEqual(unresolved, [], 'every import resolved');
  const sources = new Set(modules.map((module) => module.source));
  for (const known of ['src/loadgen/worker.ts', 'src/loadgen/runner.ts', 'src/app.ts', 'src/server.ts', 'src/redis/keys.ts', 'src/ratelimit.ts']) {
    t.true(sources.has(known), `${known} was cruised`);
  }
  // Each rule's `from` names modules that exist: a rename must not leave a rule checking nothing.
  for (const rule of summary.ruleSetUsed?.forbidden ?? []) {
    const from = (rule.from as { path?: string | string[] }).path;
    const patterns = (Array.isArray(from) ? from : [from]).filter((pattern): pattern is string => typeof pattern === 'string');
    t.true(patterns.some((pattern) => [...sources].some((source) => new RegExp(pattern).test(source))), `rule ${rule.name} applies to some module`);
  }

  const violations = summary.violations;
  t.is(violations.length, 0, `${violations.length} import boundary violation(s):\n${violations.map(describe).join('\n')}\n(rules: scripts/dependency-rules.cjs)`);
});
