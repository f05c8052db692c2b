import { z } from 'zod';
import { ChannelError, errorMessage } from '../../src/errors.js';

/** Where Meta's Graph API is: the base URL without a version, and the version every call adds. */
export interface GraphOptions {
  url: string;
  version: string;
}

export const defaultGraph: GraphOptions = { url: 'https://graph.facebook.com', version: 'v21.0' };

/**
 * Graph's error body.
 * @see https://developers.facebook.com/docs/graph-api/guides/error-handling
 */
const graphErrorBody = z.object({
  error: z.object({
    message: z.string().default(''),
    type: z.string().optional(),
    code: z.number().optional(),
    error_subcode: z.number().optional(),
    error_data: z.object({ details: z.string().optional() }).loose().optional(),
    fbtrace_id: z.string().optional(),
  }),
});

/**
 * Error codes no retry can fix. 190 is an expired or revoked token: the source itself is then in
 * error until someone pastes a new one. 131047 is a free-form message outside the 24-hour window.
 * @see https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
 */
const permanentCodes = new Set([100, 190, 200, 10, 131000, 131008, 131009, 131021, 131026, 131030, 131031, 131045, 131047, 131051, 131052, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 133010]);
/** Throttling and temporary trouble on Meta's side: worth another try later. */
const transientCodes = new Set([1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131016, 131048, 131056, 133004]);

/** A Graph call that failed: `metaCode` is Meta's own error code when it gave one. */
export class GraphError extends ChannelError {
  constructor(
    code: string,
    message: string,
    retryable: boolean,
    readonly metaCode: number | null,
    readonly httpStatus: number | null,
    options?: { cause?: unknown },
  ) {
    super(code, message, retryable, options);
  }

  /** The access token expired or was revoked (Graph's OAuthException 190). */
  get tokenExpired(): boolean {
    return this.metaCode === 190;
  }
}

/** A Graph error body or HTTP status, as a channel error that says whether to retry. */
export function graphError(httpStatus: number | null, body: unknown, cause?: unknown): GraphError {
  const parsed = graphErrorBody.safeParse(body);
  if (parsed.success) {
    const { code, message, error_data: data, error_subcode: subcode } = parsed.data.error;
    const text = `Meta ${code ?? httpStatus ?? ''}${subcode ? `/${subcode}` : ''}: ${message}${data?.details ? ` (${data.details})` : ''}`.replace('Meta :', 'Meta:');
    const retryable = code !== undefined && permanentCodes.has(code) ? false : code !== undefined && transientCodes.has(code) ? true : httpStatus === null || httpStatus === 429 || httpStatus >= 500;
    return new GraphError(code !== undefined ? `meta_${code}` : `meta_http_${httpStatus}`, text, retryable, code ?? null, httpStatus, { cause });
  }
  if (httpStatus === null) return new GraphError('meta_unreachable', `Meta's Graph API could not be reached: ${errorMessage(cause)}`, true, null, null, { cause });
  return new GraphError(`meta_http_${httpStatus}`, `Meta's Graph API answered ${httpStatus}`, httpStatus === 429 || httpStatus >= 500, null, httpStatus, { cause });
}

const timeoutMs = 30_000;

/** A small client of the Graph API: JSON in and out, a bearer token, every path under the version. */
export class GraphClient {
  constructor(private readonly options: GraphOptions) {}

  /** `path` without a version: `/me`, `/{media-id}`. */
  url(path: string, query?: Record<string, string>): string {
    const search = query ? `?${new URLSearchParams(query).toString()}` : '';
    return `${this.options.url}/${this.options.version}${path}${search}`;
  }

  async get<T>(path: string, token: string, schema: z.ZodType<T>, query?: Record<string, string>): Promise<T> {
    return this.call(this.url(path, query), { method: 'GET', headers: { authorization: `Bearer ${token}` } }, schema);
  }

  async post<T>(path: string, token: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.call(this.url(path), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }, schema);
  }

  /** A multipart upload (WhatsApp media). */
  async postForm<T>(path: string, token: string, form: FormData, schema: z.ZodType<T>): Promise<T> {
    return this.call(this.url(path), { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form }, schema);
  }

  /** A file behind a URL Graph gave out: WhatsApp media need the same token, Instagram's CDN links none. */
  async download(url: string, token: string | null, maxBytes: number): Promise<{ data: Buffer; contentType: string | null } | { tooLarge: number }> {
    let response: Response;
    try {
      response = await fetch(url, { ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw graphError(null, null, error);
    }
    if (!response.ok) throw graphError(response.status, await response.json().catch(() => null));
    const length = Number(response.headers.get('content-length'));
    if (Number.isFinite(length) && length > maxBytes) {
      await response.body?.cancel();
      return { tooLarge: length };
    }
    const data = Buffer.from(await response.arrayBuffer());
    if (data.length > maxBytes) return { tooLarge: data.length };
    return { data, contentType: response.headers.get('content-type') };
  }

  private async call<T>(url: string, init: RequestInit, schema: z.ZodType<T>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw graphError(null, null, error);
    }
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) throw graphError(response.status, body);
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new GraphError('meta_unexpected_answer', `Meta's Graph API answered in an unexpected shape: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`, false, null, response.status);
    }
    return parsed.data;
  }
}
