/** A browser-like client of the API: the session cookie and the CSRF token, as the inbox page uses them. */
export interface SessionClient {
  cookie: string;
  csrfToken: string;
  user: { id: string; role: string; workspaceId: string };
  request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options?: { csrf?: boolean }): Promise<{ status: number; body: T; headers: Headers }>;
}

export async function signInRaw(baseUrl: string, email: string, password: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

export async function signIn(baseUrl: string, email: string, password: string): Promise<SessionClient> {
  const answer = await signInRaw(baseUrl, email, password);
  if (answer.status !== 201) throw new Error(`sign-in answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const setCookie = answer.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0]!;
  const csrfToken = answer.body.csrfToken as string;
  return {
    cookie,
    csrfToken,
    user: answer.body.user as SessionClient['user'],
    async request(method, path, body, options = {}) {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          cookie,
          ...(options.csrf === false ? {} : { 'x-csrf-token': csrfToken }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as never };
    },
  };
}
