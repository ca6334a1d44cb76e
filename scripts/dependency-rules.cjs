// The import boundaries of hitcounter, checked by dependency-cruiser (test/boundaries.ts cruises
// src/, bench/ and scripts/ with these rules and fails on any violation). Each folder's README.md
// under src/ says the same in prose. Paths are relative to the repository root.
//
// Type-only imports (`import type`) count for the layering and cycle rules: they are what the
// code says it depends on. The worker rule is about what the worker thread loads at run time,
// and follows type-only imports too, which can only make it stricter.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'bench-and-scripts-not-test',
      severity: 'error',
      comment: 'bench/ and scripts/ never import test/: what both need lives in scripts/ (e.g. scripts/local-cluster.ts) or src/.',
      from: { path: '^(bench|scripts)/' },
      to: { path: '^test/' },
    },
    {
      name: 'src-self-contained',
      severity: 'error',
      comment: 'src/ is what ships: it never imports test/, bench/ or scripts/ (those may import src/).',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'core-not-app',
      severity: 'error',
      comment:
        'The core (src/hits, src/analytics, src/redis, src/loadgen) never imports the HTTP layer: ' +
        'src/routes/, src/app.ts or src/server.ts. Those build on the core, not the other way round.',
      from: { path: '^src/(hits|analytics|redis|loadgen)/' },
      to: { path: '^src/(routes/|app\\.ts$|server\\.ts$)' },
    },
    {
      name: 'routes-not-server',
      severity: 'error',
      comment: 'src/routes/ never imports src/server.ts (the process entry: cluster, signals, listen).',
      from: { path: '^src/routes/' },
      to: { path: '^src/server\\.ts$' },
    },
    {
      name: 'loadgen-worker-lean',
      severity: 'error',
      comment:
        "The load generator's worker thread (src/loadgen/worker.ts) loads only what a load test needs: " +
        'never, however indirectly, Koa (or its router and middleware), rate-limiter-flexible or src/ratelimit.ts.',
      from: { path: '^src/loadgen/(merge-)?worker\\.ts$' },
      to: {
        path: '(^|/)node_modules/(koa|koa-[^/]+|@koa/[^/]+|rate-limiter-flexible)/|^src/ratelimit\\.ts$',
        reachable: true,
      },
    },
    {
      name: 'dashboard-self-contained',
      severity: 'error',
      comment: 'src/dashboard/ runs in the browser: its modules import each other only.',
      from: { path: '^src/dashboard/' },
      to: { pathNot: '^src/dashboard/' },
    },
    {
      name: 'no-circular-src',
      severity: 'error',
      comment: 'No import cycles within src/.',
      from: { path: '^src/' },
      to: { path: '^src/', circular: true },
    },
  ],
  options: {
    // Follow our own code only: node_modules show up as the modules imported, not cruised into
    // (except for reachability from the worker, which needs koa & co. as nodes, not their insides).
    doNotFollow: { path: 'node_modules' },
    // dist/ is a build of src/; never a module any source should import.
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    // `.js` specifiers that name `.ts` files (NodeNext) resolve through the tsconfig.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
