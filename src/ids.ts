import { randomBytes } from 'node:crypto';

/**
 * Opaque ids that sort by creation time: 48 bits of milliseconds, then 80 random bits,
 * in Crockford base32 (the ULID layout), behind a short prefix naming the kind of row.
 */
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export function newId(prefix: string): string {
  let time = Date.now();
  let timePart = '';
  for (let i = 0; i < 10; i++) {
    timePart = alphabet[time % 32] + timePart;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(16);
  let randomPart = '';
  for (let i = 0; i < 16; i++) randomPart += alphabet[random[i]! % 32];
  return `${prefix}_${timePart}${randomPart}`;
}
