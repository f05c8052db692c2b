import { Prisma } from '@prisma/client';
import { openDatabase } from './src/db/client.js';
import { resolveScope } from './src/insights/query.js';
import { speedToLead, firstResponseByRep } from './src/insights/speed.js';
import { stageFunnel } from './src/insights/funnel.js';
import { sequencePerformance } from './src/insights/sequences.js';

const db = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/leadgate_insights_seed' });
const auth = { workspaceId: 'ws_seed', actor: { type: 'apiKey', id: 'key_seed' }, role: 'owner', userId: null } as never;
const scope = await resolveScope(db.prisma, auth, { groupBy: 'day' } as never);
const which = process.argv[2];
const explaining = new Proxy(db.prisma, {
  get(target, prop) {
    if (prop === '$queryRaw') {
      return async (strings: TemplateStringsArray | Prisma.Sql, ...values: unknown[]) => {
        const sql = Array.isArray(strings) ? Prisma.sql(strings as TemplateStringsArray, ...values) : (strings as Prisma.Sql);
        const started = performance.now();
        const rows = await target.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(`EXPLAIN (ANALYZE, BUFFERS) ${sql.text}`, ...sql.values);
        console.log(rows.map((r) => r['QUERY PLAN']).join('\n'));
        console.log(`--- ${(performance.now() - started).toFixed(0)} ms\n`);
        return [];
      };
    }
    return Reflect.get(target, prop);
  },
}) as typeof db.prisma;
if (which === 'speed') await speedToLead(explaining, scope, 'period', false);
if (which === 'speedrep') await speedToLead(explaining, scope, 'rep', true);
if (which === 'frt') await firstResponseByRep(explaining, scope);
if (which === 'funnel') await stageFunnel(explaining, scope).catch(() => undefined);
if (which === 'sequences') await sequencePerformance(explaining, scope);
await db.close();
