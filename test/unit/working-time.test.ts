import { describe, expect, it } from 'vitest';
import { addWorkingMinutes, isWorking, workingSecondsBetween } from '../../src/leads/working-time.js';

const weekdays = { mon: [['09:00', '18:00']], tue: [['09:00', '18:00']], wed: [['09:00', '18:00']], thu: [['09:00', '18:00']], fri: [['09:00', '12:00'], ['13:00', '17:00']] };

describe('working time in the workspace time zone', () => {
  it('adds minutes inside the same working span', () => {
    // Tuesday 10:00 in São Paulo is 13:00 UTC.
    expect(addWorkingMinutes(new Date('2026-11-24T13:00:00Z'), 5, weekdays, 'America/Sao_Paulo').toISOString()).toBe('2026-11-24T13:05:00.000Z');
  });

  it('carries what is left of the target over lunch, the night and the weekend', () => {
    // Friday 11:58 local: 2 minutes before lunch, 3 after it.
    expect(addWorkingMinutes(new Date('2026-11-27T14:58:00Z'), 5, weekdays, 'America/Sao_Paulo').toISOString()).toBe('2026-11-27T16:03:00.000Z');
    // Friday 16:58 local: 2 minutes on Friday, 3 on Monday from 09:00.
    expect(addWorkingMinutes(new Date('2026-11-27T19:58:00Z'), 5, weekdays, 'America/Sao_Paulo').toISOString()).toBe('2026-11-30T12:03:00.000Z');
    // Saturday night: Monday 09:05.
    expect(addWorkingMinutes(new Date('2026-11-29T01:00:00Z'), 5, weekdays, 'America/Sao_Paulo').toISOString()).toBe('2026-11-30T12:05:00.000Z');
  });

  it('follows daylight saving changes: 09:00 is a different UTC hour before and after', () => {
    // New York springs forward on Sunday 2026-03-08: Friday 09:00 is 14:00 UTC, Monday 09:00 is 13:00 UTC.
    expect(addWorkingMinutes(new Date('2026-03-06T22:30:00Z'), 10, weekdays, 'America/New_York').toISOString()).toBe('2026-03-09T13:10:00.000Z');
    // And falls back on 2026-11-01: Monday 09:00 is 14:00 UTC again.
    expect(addWorkingMinutes(new Date('2026-10-30T22:30:00Z'), 10, weekdays, 'America/New_York').toISOString()).toBe('2026-11-02T14:10:00.000Z');
  });

  it('counts working seconds between two instants, skipping closed time', () => {
    // Friday 16:00 local to Monday 10:00 local: 1 hour on Friday and 1 on Monday.
    expect(workingSecondsBetween(new Date('2026-11-27T19:00:00Z'), new Date('2026-11-30T13:00:00Z'), weekdays, 'America/Sao_Paulo')).toBe(7200);
    expect(workingSecondsBetween(new Date('2026-11-27T19:00:00Z'), new Date('2026-11-27T19:00:30Z'), weekdays, 'America/Sao_Paulo')).toBe(30);
    expect(workingSecondsBetween(new Date('2026-11-28T19:00:00Z'), new Date('2026-11-29T19:00:00Z'), weekdays, 'America/Sao_Paulo')).toBe(0);
  });

  it('uses wall time when the workspace keeps no hours', () => {
    expect(addWorkingMinutes(new Date('2026-11-28T19:00:00Z'), 5, {}, 'America/Sao_Paulo').toISOString()).toBe('2026-11-28T19:05:00.000Z');
    expect(workingSecondsBetween(new Date('2026-11-28T19:00:00Z'), new Date('2026-11-28T20:00:00Z'), null, 'UTC')).toBe(3600);
  });

  it('tells whether someone works now; no hours set means always, empty hours mean never', () => {
    expect(isWorking(weekdays, 'America/Sao_Paulo', new Date('2026-11-24T13:00:00Z'))).toBe(true);
    expect(isWorking(weekdays, 'America/Sao_Paulo', new Date('2026-11-24T22:00:00Z'))).toBe(false);
    expect(isWorking(null, 'America/Sao_Paulo', new Date('2026-11-24T22:00:00Z'))).toBe(true);
    expect(isWorking({}, 'America/Sao_Paulo', new Date('2026-11-24T13:00:00Z'))).toBe(false);
  });
});
