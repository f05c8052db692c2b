import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { leadHistory } from '../support/history.js';
import { eventually, type Stack, startStack } from '../support/stack.js';

interface Created {
  period: { timeZone: string };
  recomputing: boolean;
  data: { bucket: string; leads: number }[];
}

describe('a workspace time-zone change on PostgreSQL', () => {
  let stack: Stack;
  let holder: pg.Client | undefined;
  afterAll(async () => {
    await holder?.end();
    await stack?.close();
  });

  it('answers PATCH /workspace without waiting for the daily counts, which are rebuilt in the background while the insights say "recomputing"', async () => {
    stack = await startStack({ db: 'postgres', queue: 'embedded' });
    const prisma = stack.gateway.deps.db.prisma;
    expect((await stack.api('PATCH', '/api/v1/workspace', { timeZone: 'America/Sao_Paulo' })).status).toBe(200);
    const workspaceId = (await prisma.workspace.findFirstOrThrow()).id;
    const rep = (await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rita Dias', email: 'rita@acme.test', role: 'rep' })).body.id;
    const h = leadHistory(prisma, workspaceId);
    // 2026-01-09 23:30 in São Paulo (-03:00), 02:30 on the 10th in UTC; and midday on the 10th in both.
    await h.lead({ name: 'Late', at: new Date('2026-01-10T02:30:00Z'), channel: 'webform', ownerId: rep });
    await h.lead({ name: 'Noon', at: new Date('2026-01-10T15:00:00Z'), channel: 'webform', ownerId: rep });
    const days = async () => {
      const { status, body } = await stack.api<Created>('GET', '/api/v1/insights/leads-created?from=2026-01-09&to=2026-01-10');
      expect(status).toBe(200);
      return { timeZone: body.period.timeZone, recomputing: body.recomputing, days: body.data.map((row) => [row.bucket, row.leads]) };
    };
    await eventually(async () => expect(await days()).toEqual({ timeZone: 'America/Sao_Paulo', recomputing: false, days: [['2026-01-09', 1], ['2026-01-10', 1]] }));

    // Another process holds this workspace's rebuild: the change must not wait for it.
    const url = stack.env.DATABASE_URL!;
    holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(hashtext('insight_counts_rebuild'), hashtext($1))`, [workspaceId]);
    const patched = await stack.api<{ timeZone: string }>('PATCH', '/api/v1/workspace', { timeZone: 'UTC' });
    expect(patched.status).toBe(200);
    expect(patched.body.timeZone).toBe('UTC');

    // Meanwhile the figures are read from the leads, in the new zone, and say so.
    expect(await days()).toEqual({ timeZone: 'UTC', recomputing: true, days: [['2026-01-09', 0], ['2026-01-10', 2]] });
    const summary = await stack.api<{ recomputing: boolean; leadsCreated: { total: number } }>('GET', '/api/v1/insights/summary?from=2026-01-09&to=2026-01-10');
    expect([summary.status, summary.body.recomputing, summary.body.leadsCreated.total]).toEqual([200, true, 2]);
    const funnel = await stack.api<{ recomputing: boolean; cohort: number }>('GET', '/api/v1/insights/funnel?from=2026-01-10&to=2026-01-10');
    expect([funnel.body.recomputing, funnel.body.cohort]).toEqual([true, 2]);

    // Once the rebuild can run, the daily counts hold the UTC days and the figures come from them again.
    await holder.query(`SELECT pg_advisory_unlock(hashtext('insight_counts_rebuild'), hashtext($1))`, [workspaceId]);
    await eventually(async () => expect(await days()).toEqual({ timeZone: 'UTC', recomputing: false, days: [['2026-01-09', 0], ['2026-01-10', 2]] }), 30_000);
    const counted = await prisma.$queryRaw<{ day: string; n: number }[]>`
      SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(n)::int AS n FROM insight_counts WHERE "workspaceId" = ${workspaceId} AND fact = 'hour' GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1`;
    expect(counted).toEqual([{ day: '2026-01-10', n: 2 }]);

    // Back and forth before a rebuild: back in the zone the counts are kept in, nothing is pending.
    await holder.query(`SELECT pg_advisory_lock(hashtext('insight_counts_rebuild'), hashtext($1))`, [workspaceId]);
    expect((await stack.api('PATCH', '/api/v1/workspace', { timeZone: 'Europe/Lisbon' })).status).toBe(200);
    expect((await days()).recomputing).toBe(true);
    expect((await stack.api('PATCH', '/api/v1/workspace', { timeZone: 'UTC' })).status).toBe(200);
    expect(await days()).toEqual({ timeZone: 'UTC', recomputing: false, days: [['2026-01-09', 0], ['2026-01-10', 2]] });
  }, 120_000);
});
