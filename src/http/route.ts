import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { type FieldError, ProblemError, ValidationError } from '../errors.js';
import type { Actor } from '../leads/activities.js';

export type Role = 'owner' | 'manager' | 'rep';
export const allRoles: readonly Role[] = ['owner', 'manager', 'rep'];

/**
 * What a route must be called with: `any` credential of the workspace (an API key or a session),
 * a `user` (a session or a personal key: someone whose own password or claim it is), the browser's
 * `session` itself, or `none` (signing in).
 */
export type Credential = 'any' | 'user' | 'session' | 'none';

/**
 * Who is calling. An API key acts for its workspace with the owner's rights; a signed-in user
 * acts with their own role, and `userId` names them.
 */
export interface Auth {
  workspaceId: string;
  actor: Actor;
  role: Role;
  userId: string | null;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  auth: Auth;
  req: Request;
  res: Response;
}

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Express-style path under /api/v1, e.g. `/leads/:id`. */
  path: string;
  summary: string;
  /** Longer text for the OpenAPI document: definitions, edge cases. */
  description?: string;
  tag: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** What /openapi.json shows of the body, when it says more than `body` (each source kind's own fields). */
  documentedBody?: z.ZodType;
  /** The route reads a multipart/form-data upload itself; named here for the OpenAPI document. */
  upload?: { field: string; description: string };
  /** `csv`: the route also answers text/csv (with ?format=csv or Accept: text/csv). */
  response: { status: number; description: string; schema?: z.ZodType; csv?: boolean };
  /** Roles allowed to call the route; every role when unset. A workspace key acts as an owner. */
  roles?: readonly Role[];
  /** `any` when unset. */
  credential?: Credential;
  handler(ctx: RouteContext<P, Q, B>): Promise<unknown>;
}

/** Declares a route once: the same schemas validate requests and describe it in /openapi.json. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}

function fieldErrors(error: z.ZodError, prefix: string): FieldError[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: issue.message,
  }));
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, prefix: string): T {
  if (!schema) return value as T;
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(fieldErrors(result.error, prefix));
  return result.data;
}

/** Who may call the route, as its declaration says: the guard and the OpenAPI document both read this. */
export function accessOf(def: RouteDef): { roles: readonly Role[]; credential: Credential } {
  return { roles: def.roles ?? allRoles, credential: def.credential ?? 'any' };
}

/**
 * The role and the kind of credential, checked before the body is even read: a caller without
 * them learns nothing of the route's fields, and costs no parsing.
 */
function guard(def: RouteDef): RequestHandler {
  const { roles, credential } = accessOf(def);
  return (_req, res, next) => {
    const auth = res.locals.auth as Auth;
    if (credential === 'session' && !res.locals.session) throw new ProblemError('forbidden', 'this needs a signed-in user, not an API key');
    if (credential === 'user' && !auth.userId) throw new ProblemError('forbidden', 'this needs a signed-in user or a personal API key, not a workspace key');
    if (!roles.includes(auth.role)) throw new ProblemError('forbidden', `this needs the role ${roles.join(' or ')}`);
    next();
  };
}

/**
 * Mounts each route behind its authentication and guard; only then is a JSON body parsed and its
 * shape (depth, size, storable text) checked.
 */
export function mountRoutes(router: Router, routes: RouteDef[], options: { authenticate: RequestHandler; throttle: RequestHandler; parseBody: RequestHandler[] }): void {
  for (const def of routes) {
    const before = accessOf(def).credential === 'none' ? [] : [options.authenticate, options.throttle, guard(def)];
    router[def.method](def.path, ...before, ...options.parseBody, async (req: Request, res: Response) => {
      const auth = res.locals.auth as Auth;
      const params = parse(def.params, req.params, 'params');
      const query = parse(def.query, req.query, 'query');
      const body = def.body ? parse(def.body, req.body ?? {}, '') : undefined;
      const result = await def.handler({ params, query, body, auth, req, res });
      if (res.headersSent) return;
      if (result === undefined) res.status(204).end();
      else res.status(def.response.status).json(result);
    });
  }
}

/** JSON bodies of the API, up to `limit`. */
export function jsonBody(limit: string): RequestHandler {
  return express.json({ limit });
}

const idParam = z.object({ id: z.string().min(1).max(100) });
export const byId = idParam;

/** `?limit=&cursor=` as in the API conventions. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export interface Cursor {
  at: string;
  id: string;
}

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify({ at: at.toISOString(), id })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Cursor | undefined {
  if (!cursor) return undefined;
  let value: Partial<Cursor> | undefined;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<Cursor>;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  if (typeof value?.at === 'string' && typeof value.id === 'string' && !Number.isNaN(Date.parse(value.at))) return value as Cursor;
  throw new ValidationError([{ path: 'query.cursor', message: 'is not a cursor this API returned' }]);
}

/** The rows after the cursor in (createdAt, id) order, as a where clause for any model that has both. */
export function afterCursor(cursor: Cursor | undefined, order: 'asc' | 'desc') {
  if (!cursor) return {};
  const at = new Date(cursor.at);
  const beyond = order === 'desc' ? { lt: at } : { gt: at };
  const beyondId = order === 'desc' ? { lt: cursor.id } : { gt: cursor.id };
  return { OR: [{ createdAt: beyond }, { createdAt: at, id: beyondId }] };
}

/** Takes one row more than asked to know whether there is a next page. */
export function page<T extends { id: string }>(rows: T[], limit: number, at: (row: T) => Date): { data: T[]; nextCursor: string | null } {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(at(last), last.id) : null };
}

export function listSchema(item: z.ZodType) {
  return z.object({ data: z.array(item), nextCursor: z.string().nullable() });
}
