import type { AdapterContext } from '../channels/contract.js';
import type { ChannelRegistry } from '../channels/registry.js';
import { loadConfig } from '../config.js';
import type { LiveFeed } from '../inbox/live.js';
import { apiDocument, apiRoutes } from './app.js';
import type { AppDeps } from './deps.js';
import type { Sessions } from './session.js';

/**
 * The OpenAPI document GET /openapi.json serves, without a database, queue or adapter behind it
 * (`npm run api:types` types the inbox page from it), with the default configuration (an upload's
 * limit is in a description). Routes are declared, never served, so what their handlers would use
 * is a stand-in that refuses to be called: declaring a route that used one right away fails here.
 * The channel registry is real: each source kind's create body is its adapter's schema.
 */
export function describeApi(version: string, registry: ChannelRegistry): Record<string, unknown> {
  const deps = unserved('deps', { config: loadConfig({}), version, registry }) as AppDeps;
  const { publicRoutes, userRoutes } = apiRoutes(deps, unserved('ctx') as AdapterContext, unserved('sessions') as Sessions, unserved('live') as LiveFeed);
  return apiDocument(publicRoutes, userRoutes, version);
}

export class UnservedDependencyError extends Error {
  override readonly name = 'UnservedDependencyError';
}

/** `known`: the parts that are real (the configuration, the version). */
function unserved(path: string, known: Record<string, unknown> = {}): unknown {
  const refuse = (): never => {
    throw new UnservedDependencyError(`${path} was used while the API was only being described`);
  };
  return new Proxy(refuse, {
    // Not a promise: `await` on it must not look for a then().
    get: (_target, key) => {
      if (typeof key === 'string' && Object.hasOwn(known, key)) return known[key];
      return key === 'then' ? undefined : unserved(`${path}.${String(key)}`);
    },
    apply: refuse,
    construct: refuse,
  });
}
