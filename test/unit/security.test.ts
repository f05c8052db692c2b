import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretBoxError, resolveSecretKey } from '../../src/security/secrets.js';
import { hashPassword, verifyPassword } from '../../src/security/tokens.js';
import { mediaLinkLifetimeMs, mediaUrl, readMediaToken } from '../../src/messaging/uploads.js';

describe('secrets at rest', () => {
  it('seal and open round-trip, and the sealed text does not contain the secret', () => {
    const box = new SecretBox('key one');
    const sealed = box.seal({ authToken: 'twilio-auth-token-123' });
    expect(sealed).not.toContain('twilio-auth-token-123');
    expect(box.open(sealed)).toEqual({ authToken: 'twilio-auth-token-123' });
  });

  it('seal the same value differently each time', () => {
    const box = new SecretBox('key one');
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('refuse to open with another key or after tampering', () => {
    const sealed = new SecretBox('key one').seal('secret');
    expect(() => new SecretBox('key two').open(sealed)).toThrow(SecretBoxError);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => new SecretBox('key one').open(parts.join('.'))).toThrow(SecretBoxError);
  });

  it('generate a key once into the data directory and reuse it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-key-'));
    const first = resolveSecretKey(undefined, dir);
    expect(resolveSecretKey(undefined, dir)).toBe(first);
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(resolveSecretKey('configured', dir)).toBe('configured');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('passwords', () => {
  it('verify only the right password', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('wrong horse', hash)).toBe(false);
  });
});

describe('links to outbound files', () => {
  const box = new SecretBox('key one');
  const token = (url: string) => url.slice(url.lastIndexOf('/') + 1);

  it('open the file they name until they expire, a week after they were made', () => {
    const madeAt = Date.parse('2026-11-01T12:00:00Z');
    const link = token(mediaUrl('https://gw.example', box, 'att_1', madeAt));
    expect(readMediaToken(box, link, madeAt + 6 * 24 * 3600_000)).toBe('att_1');
    expect(readMediaToken(box, link, madeAt + mediaLinkLifetimeMs + 1000)).toBeNull();
  });

  it('refuse a link for another file, with a later expiry, or signed with another key', () => {
    const link = token(mediaUrl('https://gw.example', box, 'att_1'));
    const [, expires, mac] = link.split('.');
    expect(readMediaToken(box, `att_2.${expires}.${mac}`)).toBeNull();
    expect(readMediaToken(box, `att_1.${Number(expires) + 3600}.${mac}`)).toBeNull();
    expect(readMediaToken(new SecretBox('key two'), link)).toBeNull();
  });
});
