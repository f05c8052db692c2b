import { describe, expect, it } from 'vitest';
import { normalizeEmail, normalizePhone } from '../../src/contacts/identities.js';
import { backoffMs } from '../../src/queue/backoff.js';
import { RateLimiter } from '../../src/rate-limit.js';

describe('contact identities', () => {
  it.each([
    ['(11) 98765-4321', 'BR', '+5511987654321'],
    ['11 98765 4321', 'BR', '+5511987654321'],
    ['+55 11 98765-4321', 'US', '+5511987654321'],
    ['0055 11 98765 4321', 'BR', null],
    ['(415) 555-2671', 'US', '+14155552671'],
    ['12', 'BR', null],
    ['not a phone', 'BR', null],
    // Brazil's ninth digit: a mobile written (or known to WhatsApp) without it is the same phone.
    ['+55 11 8765-4321', 'US', '+5511987654321'],
    ['551187654321', 'BR', '+5511987654321'],
    ['(21) 7654-3210', 'BR', '+5521976543210'],
    // Landlines start 2–5 and have eight digits; they are left alone.
    ['(11) 3265-4321', 'BR', '+551132654321'],
  ])('phone %s in %s is %s', (text, country, expected) => {
    expect(normalizePhone(text, country)).toBe(expected);
  });

  it('lowercases emails and refuses what is not one', () => {
    expect(normalizeEmail(' Ana.Souza@Example.COM ')).toBe('ana.souza@example.com');
    expect(normalizeEmail('ana at example')).toBeNull();
  });
});

describe('retry backoff', () => {
  it('grows exponentially up to the cap, with jitter in the upper half', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(60_000, 1_000 * 2 ** (attempt - 1));
      const delay = backoffMs(attempt, 1_000, 60_000);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
  });
});

describe('rate limiter', () => {
  it('allows a burst up to the limit, then refills with time', () => {
    const limiter = new RateLimiter();
    const t0 = 1_000_000;
    expect([0, 1, 2].map(() => limiter.take('a', 3, t0))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 3, t0)).toBeGreaterThan(0);
    expect(limiter.take('b', 3, t0)).toBe(0);
    expect(limiter.take('a', 3, t0 + 20_000)).toBe(0);
  });
});
