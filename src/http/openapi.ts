import { z } from 'zod';
import { accessOf, type RouteDef } from './route.js';

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
}

function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

/** OpenAPI 3.1, generated from the same zod schemas that validate the requests. */
export function openApiDocument(routes: RouteDef[], extra: Record<string, Record<string, unknown>>, info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = { ...extra };
  for (const def of routes) {
    const path = `/api/v1${openApiPath(def.path)}`;
    paths[path] ??= {};
    const access = accessOf(def);
    paths[path]![def.method] = {
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: [def.tag],
      security: access.credential === 'none' ? [] : [{ apiKey: [] }, { session: [] }],
      // Read by the route's guard too (route.ts): the document cannot say other than what is enforced.
      'x-leadgate-roles': access.roles,
      'x-leadgate-credential': access.credential,
      parameters: [...parameters(def.params, 'path'), ...parameters(def.query, 'query')],
      ...(def.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(def.documentedBody ?? def.body, 'input') } } } } : {}),
      ...(def.upload
        ? {
            requestBody: {
              required: true,
              content: {
                'multipart/form-data': {
                  schema: {
                    type: 'object',
                    required: [def.upload.field],
                    properties: { [def.upload.field]: { type: 'string', format: 'binary', description: def.upload.description } },
                  },
                },
              },
            },
          }
        : {}),
      responses: {
        [def.response.status]: {
          description: def.response.description,
          ...(def.response.schema
            ? {
                content: {
                  'application/json': { schema: jsonSchema(def.response.schema, 'output') },
                  ...(def.response.csv ? { 'text/csv': { schema: { type: 'string' } } } : {}),
                },
              }
            : {}),
        },
        default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'leadgate', version: info.version, description: 'Omnichannel lead-capture and messaging gateway.' },
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: a workspace key acts as an owner, a personal key as its user' },
        session: { type: 'apiKey', in: 'cookie', name: 'lg_session', description: 'The session cookie set by POST /api/v1/session (__Host-lg_session over https); state changes also carry X-CSRF-Token' },
      },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}
