import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LogThrottle, quietLogger } from '../../adapters/whatsapp/log-throttle.js';

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

  it('turns a storm of one Baileys error into one line, and lets everything else through', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const baileys = quietLogger(logger, new LogThrottle(60_000)).child({ class: 'signal' });
    for (let i = 0; i < 1_000; i++) baileys.error({ err: new Error('Bad MAC'), jid: `${i}@s.whatsapp.net` }, 'failed to decrypt message');
    baileys.error({ err: new Error('No session record') }, 'failed to decrypt message');
    baileys.info({ attrs: {} }, 'connected to WA');
    baileys.info({ attrs: {} }, 'connected to WA');
    expect(lines.map((line) => [line.msg, (line.err as { message?: string } | undefined)?.message ?? null, line.class])).toEqual([
      ['failed to decrypt message', 'Bad MAC', 'signal'],
      ['failed to decrypt message', 'No session record', 'signal'],
      ['connected to WA', null, 'signal'],
      ['connected to WA', null, 'signal'],
    ]);
  });
});
