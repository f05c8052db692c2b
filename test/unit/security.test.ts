import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretBoxError, resolveSecretKey } from '../../src/security/secrets.js';
import { hashPassword, verifyPassword } from '../../src/security/tokens.js';

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
