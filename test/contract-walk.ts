// The document against independent tools: Stoplight Prism in front of real servers
// (scripts/contract-walk.mjs walks every operation through it, with a success and each documented
// error it can provoke) and Redocly's linter. Both run as child processes, as a person would run
// them; the walk polls readiness with generous deadlines, so a loaded machine only makes it slower.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a command in the project's root to its end, collecting its output. */
function run(t: { teardown(fn: () => void): void }, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // If the test ends first (ava's timeout), the child is stopped by its own PID; the walk then
  // stops its servers and proxies itself.
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': all of the output has been read by then.
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test('every operation answers as documented, checked by Prism as a validating proxy', async (t) => {
  // Starting Redis, two servers (through tsx) and three Prism proxies, then some 370 requests:
  // seconds on an idle machine, far longer with every core busy.
  t.timeout(5 * 60_000);
  const walk = await run(t, process.execPath, ['scripts/contract-walk.mjs']);
  const output = `${walk.stdout}${walk.stderr}`;
  const summary = /^summary: .*$/m.exec(walk.stdout)?.[0];
  if (summary) t.log(summary);
  // The notes: what only the document's description promises, checked straight against the server.
  for (const note of walk.stdout.match(/^note .*(?:\n {11}.*)*/gm) ?? []) t.log(note.replace(/\s+/g, ' '));
  t.truthy(summary, `no summary line; output:\n${output}`);
  const counts = /: (\d+) violations, (\d+) unexpected, (\d+) uncovered, (\d+) errors;/.exec(summary ?? '');
  t.deepEqual(counts?.slice(1).map(Number), [0, 0, 0, 0], `violations, unexpected, uncovered, errors; output:\n${output}`);
  t.is(walk.signal, null, output);
  t.is(walk.code, 0, output);
});

// Every warning Redocly's recommended rules may give, and why it stands. An entry no warning
// matches any more is stale and fails the test too: the list says what is true today.
const ALLOWED_WARNINGS = [
  {
    ruleId: 'no-unused-components',
    pointer: '#/components/responses/MethodNotAllowed',
    why: 'the answer (405 with Allow) to a method a path has no operation for: info.description and the contract checker '
      + '(test/helpers/contract.ts) use it, but OpenAPI has no place to reference it from, as it describes only the methods a path has',
  },
];

interface LintProblem { ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }

test('the document lints clean with Redocly, but for the warnings allowed above', async (t) => {
  t.timeout(2 * 60_000);
  const lint = await run(t, 'node_modules/.bin/redocly', ['lint', 'src/openapi.json', '--format=json'],
    { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' });
  const output = `${lint.stdout}${lint.stderr}`;
  let report: { totals: { errors: number; warnings: number }; problems: LintProblem[] };
  try {
    report = JSON.parse(lint.stdout) as typeof report;
  } catch {
    return t.fail(`redocly printed no JSON report (exit ${lint.code}):\n${output}`);
  }
  const where = (p: LintProblem) => `${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`;
  t.deepEqual(report.problems.filter((p) => p.severity === 'error').map(where), [], 'errors');
  t.is(report.totals.errors, 0);
  const warnings = report.problems.filter((p) => p.severity === 'warn');
  const allowed = (p: LintProblem, a: (typeof ALLOWED_WARNINGS)[number]) => p.ruleId === a.ruleId && p.location.some((l) => l.pointer === a.pointer);
  t.deepEqual(warnings.filter((p) => !ALLOWED_WARNINGS.some((a) => allowed(p, a))).map(where), [], 'warnings not in ALLOWED_WARNINGS');
  t.deepEqual(ALLOWED_WARNINGS.filter((a) => !warnings.some((p) => allowed(p, a))).map((a) => `${a.ruleId} at ${a.pointer}`), [],
    'stale entries of ALLOWED_WARNINGS (no such warning any more): remove them');
  t.is(lint.code, 0, output);
  for (const p of warnings) t.log(`allowed: ${where(p)}`);
});
