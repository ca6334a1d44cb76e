// A V8 CPU profile summed by who owns the code (our sources, each package, Node's internals, GC)
// and by function: bench/profile.ts (the server's hit path) and bench/loadgen-profile.ts (the
// load generator's client side) read theirs with it.

export interface CallFrame { functionName: string; url: string; lineNumber: number }
export interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Which body of code a frame belongs to: a package, our sources, Node itself, or V8's own work. */
export function owner({ url, functionName }: CallFrame): string {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)' || functionName === '(program)') return functionName;
  if (url === '') return 'native (V8 builtins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node:' + (/^node:(?:internal\/)?([^/]+)/.exec(url)?.[1] ?? '?');
  // Built (dist/) or run from source under tsx (src/).
  const ours = /\/(?:dist|src)\/(.+)$/.exec(url);
  return ours ? `hitcounter ${ours[1]!.replace(/\/[^/]+$/, '/')}` : url;
}

export function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  // V8 builtins and Node's socket plumbing are charged to the code that asked for them, so a socket
  // write shows up under the HTTP response (node:_http_outgoing) or under ioredis rather than as one
  // anonymous lump of "writev".
  const plumbing = new Set(['native (V8 builtins)', 'node:stream_base_commons', 'node:streams', 'node:net']);
  const caller = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const who = owner(byId.get(at)!.callFrame);
      if (!plumbing.has(who)) return who;
    }
    return owner(byId.get(id)!.callFrame);
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const who = caller(id);
    if (who === '(idle)') continue;
    busy += us;
    owners.set(who, (owners.get(who) ?? 0) + us);
    const name = `${frame.functionName || '(anonymous)'} ${who}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const share = (m: Map<string, number>, top: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, percentOfBusy: Math.round((us / busy) * 1000) / 10 }));
  return { busyMs: Math.round(busy / 1000), byOwner: share(owners, 15), byFunction: share(functions, 20) };
}

