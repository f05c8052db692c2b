import fc from 'fast-check';

/**
 * The gateway's own OpenAPI document, read as a client reads it: the operations it lists and,
 * for each, arbitraries (fast-check) of the requests a well-meaning or a hostile client sends.
 * Tests that walk every operation (the fuzz test, the role matrix) are generated from it, so a
 * route added tomorrow is covered by them without a line of test code.
 */
export type JsonSchema = { [key: string]: unknown };

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** As the document writes it: `/api/v1/leads/{id}`. */
  path: string;
  parameters: Parameter[];
  /** The JSON body's schema, when the operation takes one. */
  jsonBody?: JsonSchema;
  /** The operation takes multipart/form-data or urlencoded (uploads, hooks). */
  formBody: boolean;
  /** `x-leadgate-roles`: who may call it; absent on hooks. */
  roles?: string[];
  /** `x-leadgate-credential`: `none` (sign-in), `user` (a person, not a workspace key), `session` (the browser's cookie). */
  credential?: string;
  security: boolean;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema?: JsonSchema }> }; security?: unknown[]; 'x-leadgate-roles'?: string[]; 'x-leadgate-credential'?: string }>>;
}

export function operations(document: OpenApiDocument): Operation[] {
  const list: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const content = op.requestBody?.content ?? {};
      list.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        ...(content['application/json']?.schema ? { jsonBody: content['application/json'].schema } : {}),
        formBody: Boolean(content['multipart/form-data'] || content['application/x-www-form-urlencoded']),
        ...(op['x-leadgate-roles'] ? { roles: op['x-leadgate-roles'] } : {}),
        ...(op['x-leadgate-credential'] ? { credential: op['x-leadgate-credential'] } : {}),
        security: Boolean(op.security?.length),
      });
    }
  }
  return list;
}

/** Text no database row can hold, text that means something to some parser, and text that is simply large. */
export const hostileStrings: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ud83d',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '{{constructor.constructor "return process"}}',
  '{{#each this}}{{this}}{{/each}}',
  '<script>alert(1)</script>',
  '=HYPERLINK("https://evil.example")',
  "'; DROP TABLE lead; --",
  '../../../../etc/passwd',
  '%00',
  '%',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '👩‍👩‍👧‍👦'.repeat(50),
  'x'.repeat(70_000),
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999999',
  '2024-13-45T99:99:99Z',
  'null',
  'true',
  '[]',
  '{}',
];

export const hostileNumbers: readonly number[] = [-1, 0, -0, 0.5, 1e308, -1e308, 2 ** 31, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];

/** An object with keys that, assigned carelessly, change every object's prototype. */
export function prototypeKeys(): Record<string, unknown> {
  return JSON.parse('{"__proto__":{"polluted":"yes","role":"owner"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"admin":true}}') as Record<string, unknown>;
}

/** `levels` objects inside each other. */
export function nested(levels: number): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...hostileStrings),
  fc.constantFrom(...hostileNumbers),
  fc.constantFrom(null, true, false, [], {}, [null], ['\u0000']),
  fc.constant(null).map(() => prototypeKeys()),
  fc.constantFrom(30, 200, 1_500).map((levels) => nested(levels)),
  fc.array(fc.constantFrom(...hostileStrings.slice(0, 10)), { maxLength: 300 }),
);

export interface Hints {
  /** Ids that exist (leads, users, templates…): a string field may name one of them. */
  ids: string[];
  /** Words the API knows (source kinds, channels, stages). */
  words: string[];
}

const maxBreadth = 4;

/**
 * Values for a JSON schema: valid ones most of the time, so requests reach past validation into
 * the handlers, and at every node, now and then, something hostile instead.
 */
export function valueOf(schema: JsonSchema | undefined, hints: Hints, hostility = 0.15, depth = 0): fc.Arbitrary<unknown> {
  const valid = validValueOf(schema ?? {}, hints, hostility, depth);
  if (hostility <= 0) return valid;
  const weight = Math.max(1, Math.round((1 - hostility) / hostility));
  return fc.oneof({ weight, arbitrary: valid }, { weight: 1, arbitrary: hostileValue });
}

function validValueOf(schema: JsonSchema, hints: Hints, hostility: number, depth: number): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (variants?.length) return fc.oneof(...variants.map((variant) => valueOf(variant, hints, hostility, depth + 1)));
  const type = Array.isArray(schema.type) ? (schema.type as string[]) : schema.type ? [schema.type as string] : [];
  if (type.length > 1) return fc.oneof(...type.map((one) => validValueOf({ ...schema, type: one }, hints, hostility, depth)));
  switch (type[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : -1_000;
      const max = typeof schema.maximum === 'number' ? schema.maximum : 1_000_000;
      return type[0] === 'integer' ? fc.integer({ min: Math.ceil(Math.max(min, -(2 ** 31))), max: Math.floor(Math.min(max, 2 ** 31)) }) : fc.double({ min, max, noNaN: true });
    }
    case 'string':
      return stringOf(schema, hints);
    case 'array': {
      const prefix = schema.prefixItems as JsonSchema[] | undefined;
      if (prefix) return fc.tuple(...prefix.map((item) => valueOf(item, hints, hostility, depth + 1)));
      const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const maxLength = Math.max(minLength, Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : maxBreadth, maxBreadth));
      return fc.array(valueOf(schema.items as JsonSchema | undefined, hints, hostility, depth + 1), { minLength, maxLength });
    }
    case 'object':
      return objectOf(schema, hints, hostility, depth);
    default:
      return fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom(...hints.words));
  }
}

function stringOf(schema: JsonSchema, hints: Hints): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const maxLength = Math.max(minLength, Math.min(typeof schema.maxLength === 'number' ? schema.maxLength : 40, 40));
  let conforming: fc.Arbitrary<string>;
  switch (schema.format) {
    case 'date-time':
      conforming = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString());
      break;
    case 'date':
      conforming = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10));
      break;
    case 'email':
      conforming = fc.constantFrom('fuzz@example.com', 'Fuzz.Person+tag@example.org');
      break;
    case 'uri':
      // Addresses the outbound policy refuses, or a name that resolves nowhere: nothing leaves the machine.
      conforming = fc.constantFrom('https://127.0.0.1/hook', 'http://[::1]:9/x', 'https://169.254.169.254/latest', 'https://hooks.invalid/x');
      break;
    default:
      conforming =
        typeof schema.pattern === 'string'
          ? fc.stringMatching(new RegExp(schema.pattern)).filter((text) => text.length >= minLength && text.length <= (typeof schema.maxLength === 'number' ? schema.maxLength : Infinity))
          : fc.string({ minLength, maxLength });
  }
  const known = [...hints.ids, ...hints.words];
  return known.length ? fc.oneof({ weight: 3, arbitrary: conforming }, { weight: 1, arbitrary: fc.constantFrom(...known) }) : conforming;
}

function objectOf(schema: JsonSchema, hints: Hints, hostility: number, depth: number): fc.Arbitrary<unknown> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) record[name] = valueOf(property, hints, hostility, depth + 1);
  const known = fc.record(record, { requiredKeys: [...required].filter((name) => name in record) });
  const extra = schema.additionalProperties;
  if (!extra || Object.keys(properties).length > 0) {
    // Keys the schema does not name, now and then: strict schemas refuse them, others ignore them.
    return hostility > 0 ? fc.tuple(known, fc.option(fc.constantFrom(...hostileStrings.slice(0, 12)), { freq: 4 })).map(([value, key]) => (key === null ? value : { ...(value as object), [key]: 'extra' })) : known;
  }
  const values = typeof extra === 'object' ? (extra as JsonSchema) : {};
  return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), valueOf(values, hints, hostility, depth + 1), { maxKeys: maxBreadth });
}

/** A path parameter: an id that exists, one that does not, or one no id looks like. */
export function pathValueOf(existing: string[]): fc.Arbitrary<string> {
  const escaped = fc.constantFrom('x%00', '%00', '%ED%A0%80', '%', '%E0%A4%A', '..%2F..%2Fetc', '__proto__', 'constructor', `${'a'.repeat(5_000)}`, '%F0%9F%98%80', 'me', 'null', '-1', '1e309');
  const plain = fc.stringMatching(/^[a-z]{3,4}_[A-Za-z0-9]{6,24}$/);
  return existing.length
    ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...existing).map(encodeURIComponent) }, { weight: 2, arbitrary: escaped }, { weight: 1, arbitrary: plain })
    : fc.oneof(escaped, plain);
}

/** A query string for the operation's parameters: values from their schemas, hostile ones, repeated or bracketed names. */
export function queryOf(parameters: Parameter[], hints: Hints): fc.Arbitrary<string> {
  const query = parameters.filter((parameter) => parameter.in === 'query');
  const encode = (value: unknown) => {
    const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? '').slice(0, 4_000);
    // A lone surrogate cannot be percent-encoded by encodeURIComponent: send its UTF-8-looking escape.
    return text.replace(/[\ud800-\udfff]/g, '%ED%A0%80').replace(/[^\w.~\-%]/g, (char) => encodeURIComponent(char));
  };
  const entries = query.map((parameter) =>
    fc.option(
      fc.oneof(
        { weight: 5, arbitrary: valueOf(parameter.schema, hints, 0.2).map((value) => `${parameter.name}=${encode(value)}`) },
        { weight: 1, arbitrary: fc.constant(`${parameter.name}=1&${parameter.name}=2`) },
        { weight: 1, arbitrary: fc.constantFrom(`${parameter.name}[$gt]=`, `${parameter.name}[__proto__][x]=1`, `${parameter.name}[]=a`) },
      ),
      { freq: 2 },
    ),
  );
  const stray = fc.option(fc.constantFrom('__proto__[polluted]=1', 'constructor[prototype][x]=1', '%00=1', 'x=%00', `${'a'.repeat(3_000)}=1`), { freq: 5 });
  return fc.tuple(fc.tuple(...entries), stray).map(([parts, extra]) => {
    const all = [...parts, extra].filter((part): part is string => Boolean(part));
    return all.length ? `?${all.join('&')}` : '';
  });
}

export interface RawBody {
  contentType: string;
  text: string;
}

/** A JSON body for the schema; now and then one that is not JSON, not an object, or far too deep. */
export function bodyOf(schema: JsonSchema | undefined, hints: Hints): fc.Arbitrary<RawBody> {
  const json = (text: string): RawBody => ({ contentType: 'application/json', text });
  return fc.oneof(
    { weight: 12, arbitrary: valueOf(schema, hints, 0.15).map((value) => json(JSON.stringify(value) ?? 'null')) },
    { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', '\u0000', '[1,2', 'nul', '{"a":1}garbage', '"\\ud800"', '{"a":"\\u0000"}').map(json) },
    { weight: 1, arbitrary: fc.constantFrom('[]', '"text"', '42', 'null', 'true', '1e999', '-0').map(json) },
    { weight: 1, arbitrary: fc.constantFrom(2_000, 100_000).map((levels) => json(`${'['.repeat(levels)}${']'.repeat(levels)}`)) },
    { weight: 1, arbitrary: fc.constant(json(JSON.stringify(prototypeKeys()))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { contentType: 'text/plain', text: 'hello' },
        { contentType: 'application/x-www-form-urlencoded', text: 'a=1&a=2&__proto__[x]=1' },
        { contentType: 'application/json; charset=utf-16', text: '{}' },
        { contentType: 'multipart/form-data; boundary=x', text: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi\r\n--x--\r\n' },
        { contentType: 'multipart/form-data', text: 'no boundary' },
      ),
    },
  );
}
