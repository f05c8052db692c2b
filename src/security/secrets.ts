import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const version = 'v1';

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

/**
 * Seals secrets at rest with AES-256-GCM. The key comes from LEADGATE_SECRET_KEY (any string,
 * stretched with SHA-256) or is generated once into the data directory and reused.
 */
export class SecretBox {
  private readonly key: Buffer;

  private readonly signingKey: Buffer;

  constructor(secret: string) {
    this.key = createHash('sha256').update(`leadgate:secret-box:${secret}`).digest();
    this.signingKey = createHash('sha256').update(`leadgate:signing:${secret}`).digest();
  }

  /** A MAC of the text, for links the gateway hands out (unsubscribe) and must recognise later. */
  sign(text: string): string {
    return createHmac('sha256', this.signingKey).update(text).digest('base64url');
  }

  seal(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return [version, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open<T = unknown>(sealed: string): T {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== version || !iv || !tag || body === undefined) throw new SecretBoxError('sealed value has an unknown format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      return JSON.parse(text) as T;
    } catch (error) {
      throw new SecretBoxError('cannot open a sealed secret: is LEADGATE_SECRET_KEY the one it was sealed with?', { cause: error });
    }
  }
}

/** The configured key, else the one stored in the data directory, else a new one stored there. */
export function resolveSecretKey(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'secret.key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  fs.mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}
