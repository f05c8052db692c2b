import { describe, expect, it } from 'vitest';
import { sourceSpec, storedSettings } from '../../adapters/email/settings.js';
import { ProblemError } from '../../src/errors.js';

const spec = sourceSpec(async () => undefined);
const prepare = (input: Record<string, unknown>, previous?: { settings: Record<string, unknown>; secrets: Record<string, unknown> }) =>
  spec.prepare(spec.createSchema.parse(input) as never, previous);

describe('a mailbox that signs in with OAuth', () => {
  it("takes the provider's servers and scopes, the address as user, and no password", () => {
    const { settings, secrets } = prepare({ address: 'Vendas@Acme.com.br', oauth: { provider: 'microsoft', clientId: 'app-1', clientSecret: 's1', tenant: 'acme.onmicrosoft.com' } });
    expect(storedSettings.parse(settings)).toMatchObject({
      imap: { host: 'outlook.office365.com', port: 993, secure: true, user: 'vendas@acme.com.br' },
      smtp: { host: 'smtp.office365.com', port: 587, secure: false, user: 'vendas@acme.com.br' },
      oauth: {
        provider: 'microsoft',
        clientId: 'app-1',
        tenant: 'acme.onmicrosoft.com',
        scope: 'offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send',
      },
    });
    expect(secrets).toEqual({ imap: {}, smtp: {}, oauth: { clientSecret: 's1' } });
    const google = prepare({ address: 'vendas@acme.com.br', oauth: { provider: 'google', clientId: 'g', clientSecret: 's' } });
    expect(storedSettings.parse(google.settings)).toMatchObject({ imap: { host: 'imap.gmail.com', port: 993 }, smtp: { host: 'smtp.gmail.com', port: 465 }, oauth: { scope: 'https://mail.google.com/' } });
  });

  it('refuses a password beside oauth, a client without its secret, and a mailbox with neither', () => {
    const refused = (input: Record<string, unknown>) => {
      try {
        prepare(input);
      } catch (error) {
        expect(error).toBeInstanceOf(ProblemError);
        return (error as ProblemError).errors?.map((e) => e.path);
      }
      throw new Error('accepted');
    };
    expect(refused({ address: 'a@b.com', oauth: { provider: 'google', clientId: 'g', clientSecret: 's' }, imap: { host: 'imap.b.com', port: 993, secure: true, password: 'x' } })).toEqual(['imap.password']);
    expect(refused({ address: 'a@b.com', oauth: { provider: 'google', clientId: 'g' } })).toEqual(['oauth.clientSecret']);
    expect(refused({ address: 'a@b.com' })).toEqual(['imap', 'smtp']);
  });

  it('keeps the grant for a new secret of the same app, and drops it for another app', () => {
    const first = prepare({ address: 'a@b.com', oauth: { provider: 'google', clientId: 'g', clientSecret: 's1' } });
    const granted = {
      settings: { ...first.settings, oauth: { ...(first.settings.oauth as object), authorizedAt: '2026-12-01T00:00:00.000Z' } },
      secrets: { ...first.secrets, oauth: { clientSecret: 's1', refreshToken: 'rt-1' } },
    };
    const newSecret = spec.prepare(spec.updateSchema.parse({ oauth: { provider: 'google', clientId: 'g', clientSecret: 's2' } }) as never, granted);
    expect(newSecret.secrets.oauth).toEqual({ clientSecret: 's2', refreshToken: 'rt-1' });
    expect(storedSettings.parse(newSecret.settings).oauth?.authorizedAt).toBe('2026-12-01T00:00:00.000Z');
    const otherApp = spec.prepare(spec.updateSchema.parse({ oauth: { provider: 'google', clientId: 'other', clientSecret: 's3' } }) as never, granted);
    expect(otherApp.secrets.oauth).toEqual({ clientSecret: 's3' });
    expect(storedSettings.parse(otherApp.settings).oauth?.authorizedAt).toBeUndefined();
  });

  it('shows the client id, the redirect URL and the state of the grant, never the secret or a token', () => {
    const { settings, secrets } = prepare({ address: 'a@b.com', oauth: { provider: 'google', clientId: 'g', clientSecret: 'very-secret' } });
    const view = spec.present({ id: 'src_1', workspaceId: 'ws', kind: 'email', name: 'Gmail', settings, secrets: { ...secrets, oauth: { clientSecret: 'very-secret', refreshToken: 'rt-9' } } }, 'https://leads.acme.com.br');
    expect(view.oauth).toMatchObject({ provider: 'google', clientId: 'g', redirectUrl: 'https://leads.acme.com.br/oauth/callback', state: 'connected' });
    expect(JSON.stringify(view)).not.toMatch(/very-secret|rt-9/);
  });
});
