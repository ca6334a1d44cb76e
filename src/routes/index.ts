// Every route of the product, by area: the table createApp mounts and scripts/openapi renders.
// /api/* is a table of its own because it gets a router of its own (see app.ts).
import type { Services } from '../services.js';
import type { Settings } from '../settings.js';
import * as api from './api.js';
import * as badge from './badge.js';
import * as dashboard from './dashboard.js';
import type { RouteDeclaration } from './declare.js';
import * as docs from './docs.js';
import * as events from './events.js';
import * as health from './health.js';
import * as hitsBatch from './hits-batch.js';
import * as loadtest from './loadtest.js';
import * as loadtestResults from './loadtest-results.js';
import * as metrics from './metrics.js';
import * as pixel from './pixel.js';
import * as plausible from './plausible.js';
import * as stats from './stats.js';
import * as stream from './stream.js';
import * as umami from './umami.js';

export interface RouteTable {
  api: RouteDeclaration[];
  main: RouteDeclaration[];
}

export function routeTable(services: Services): RouteTable {
  return {
    api: api.routes(services),
    main: [
      ...stats.routes(services),
      ...loadtest.routes(services),
      ...loadtestResults.routes(services),
      ...events.routes(services),
      ...health.routes(services),
      ...docs.routes(services),
      ...stream.routes(services),
      ...dashboard.routes(services),
      ...metrics.routes(services),
      ...pixel.routes(services),
      ...badge.routes(services),
      ...plausible.routes(services),
      ...umami.routes(services),
      ...hitsBatch.routes(services),
    ],
  };
}

/**
 * The table as declarations only, for the document (scripts/openapi) and the tests: built over the
 * given settings and nothing else. Declaring routes reads only settings; every other service is a
 * stand-in that throws if called, since no handler runs here.
 */
export function declaredRoutes(settings: Readonly<Settings>): RouteTable {
  const inert: object = new Proxy(() => {}, {
    get: (_target, key) => (key === 'then' ? undefined : inert),
    apply: () => { throw new Error('a route declaration called a service; only its handler may'); },
  });
  const services = new Proxy({ settings } as Services, { get: (target, key) => (key in target ? target[key as keyof Services] : inert) });
  return routeTable(services);
}

