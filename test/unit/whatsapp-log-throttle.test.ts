import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../adapters/whatsapp/log-throttle.js';

describe('the log throttle of the WhatsApp connection', () => {
  it('writes the first of a burst of identical errors, then one line per window with the count held back', () => {
    const throttle = new LogThrottle(60_000);
    const start = 1_000_000;
    expect(throttle.take('closed: Bad MAC', start)).toEqual({ write: true, held: 0 });
    for (let i = 1; i <= 500; i++) expect(throttle.take('closed: Bad MAC', start + i * 100).write).toBe(false);
    // Another error is not held back by the first one.
    expect(throttle.take('closed: Connection Lost', start + 1_000)).toEqual({ write: true, held: 0 });
    expect(throttle.take('closed: Bad MAC', start + 60_000)).toEqual({ write: true, held: 500 });
    expect(throttle.take('closed: Bad MAC', start + 60_001)).toEqual({ write: false, held: 1 });
    expect(throttle.take('closed: Bad MAC', start + 200_000)).toEqual({ write: true, held: 1 });
  });
});
