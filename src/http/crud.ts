import type { z } from 'zod';
import { NotFoundError } from '../errors.js';
import { byId, listSchema, type Role, route, type RouteDef } from './route.js';

/**
 * A workspace's rule resource (assignment, scoring and routing rules, quotas): what differs from
 * one to the next. crudRoutes makes the five routes they share from it.
 */
export interface CrudResource<Row, Body, Patch, Query> {
  /** `/assignment-rules`; one row is at `<path>/:id`. */
  path: string;
  tag: string;
  /** What a 404 names: "no assignment rule". */
  noun: string;
  summaries: { create: string; list: string; get: string; change: string; remove: string };
  /** The response descriptions of one row and of the list. */
  described: { one: string; many: string };
  /** Who may create, change and remove; every role reads. */
  writers: readonly Role[];
  body: z.ZodType<Body>;
  patch: z.ZodType<Patch>;
  listQuery?: z.ZodType<Query>;
  view: z.ZodType;
  present(row: Row): unknown;
  /** Refuses (ValidationError) a body that names what the workspace does not have. */
  check?(workspaceId: string, body: Body | Patch): Promise<void>;
  /** Reading and writing the rows; `find` and `list` keep to the workspace. */
  rows: {
    list(workspaceId: string, query: Query): Promise<Row[]>;
    find(workspaceId: string, id: string): Promise<Row | null>;
    create(workspaceId: string, body: Body): Promise<Row>;
    update(id: string, patch: Patch): Promise<Row>;
    remove(id: string): Promise<void>;
  };
}

type NoParams = Record<string, never>;

/** Create, list, get, change and remove a workspace's rows of one resource. */
export function crudRoutes<Row extends { id: string }, Body, Patch, Query = NoParams>(resource: CrudResource<Row, Body, Patch, Query>): RouteDef[] {
  const { path, tag, summaries, described, writers, view, present, rows } = resource;
  const check = resource.check ?? (async () => undefined);
  const load = async (workspaceId: string, id: string) => {
    const row = await rows.find(workspaceId, id);
    if (!row) throw new NotFoundError(resource.noun);
    return row;
  };
  return [
    route<NoParams, NoParams, Body>({
      method: 'post',
      path,
      summary: summaries.create,
      tag,
      roles: writers,
      body: resource.body,
      response: { status: 201, description: described.one, schema: view },
      handler: async ({ body, auth }) => {
        await check(auth.workspaceId, body);
        return present(await rows.create(auth.workspaceId, body));
      },
    }),
    route<NoParams, Query, undefined>({
      method: 'get',
      path,
      summary: summaries.list,
      tag,
      ...(resource.listQuery ? { query: resource.listQuery } : {}),
      response: { status: 200, description: described.many, schema: listSchema(view) },
      handler: async ({ query, auth }) => ({ data: (await rows.list(auth.workspaceId, query)).map(present), nextCursor: null }),
    }),
    route({
      method: 'get',
      path: `${path}/:id`,
      summary: summaries.get,
      tag,
      params: byId,
      response: { status: 200, description: described.one, schema: view },
      handler: async ({ params, auth }) => present(await load(auth.workspaceId, params.id)),
    }),
    route<z.infer<typeof byId>, NoParams, Patch>({
      method: 'patch',
      path: `${path}/:id`,
      summary: summaries.change,
      tag,
      roles: writers,
      params: byId,
      body: resource.patch,
      response: { status: 200, description: described.one, schema: view },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await check(auth.workspaceId, body);
        return present(await rows.update(row.id, body));
      },
    }),
    route({
      method: 'delete',
      path: `${path}/:id`,
      summary: summaries.remove,
      tag,
      roles: writers,
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await rows.remove(row.id);
        return undefined;
      },
    }),
  ];
}
