import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { Scope } from './query.js';

export interface SequenceStepRow {
  sequenceId: string;
  sequence: string;
  /** 0-based, as in the sequence's steps. */
  step: number;
  /** Enrolments in the period (the same on every step of a sequence). */
  enrolled: number;
  /** Step messages that went out (sent, delivered or read). */
  sent: number;
  failed: number;
  skipped: number;
  /** Enrolments whose first reply came after this step, the last one sent before it. */
  replied: number;
  /** Enrolments whose contact opted out after this step, the last one sent before it. */
  optedOut: number;
}

/**
 * Sequence performance per step, for the enrolments made in the period: each enrolment keeps what
 * became of its steps (kept by triggers on messages and activities), so one read of the period's
 * enrolments counts them all. Most enrolments of a sequence share one history (every step sent,
 * no reply), so they are counted per history first and the steps of each history after.
 */
export async function sequencePerformance(prisma: Db, scope: Scope, sequenceId?: string): Promise<SequenceStepRow[]> {
  return prisma.$queryRaw<SequenceStepRow[]>`
    WITH histories AS (
      SELECT se."sequenceId", se."stepsSent", se."stepsFailed", se."stepsSkipped", se."repliedAfterStep", se."optedOutAfterStep", count(*)::int AS n
      FROM sequence_enrollments se ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = se."leadId"` : Prisma.empty}
      WHERE se."workspaceId" = ${scope.workspaceId} AND se."enrolledAt" >= ${scope.from} AND se."enrolledAt" < ${scope.to}
        ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}
        ${sequenceId ? Prisma.sql`AND se."sequenceId" = ${sequenceId}` : Prisma.empty}
      GROUP BY 1, 2, 3, 4, 5, 6),
    enrolled AS (SELECT "sequenceId", sum(n)::int AS n FROM histories GROUP BY 1),
    outcomes AS (
      SELECT "sequenceId", step, 'sent' AS outcome, n FROM histories, unnest("stepsSent") AS step
      UNION ALL SELECT "sequenceId", step, 'failed', n FROM histories, unnest("stepsFailed") AS step
      UNION ALL SELECT "sequenceId", step, 'skipped', n FROM histories, unnest("stepsSkipped") AS step
      UNION ALL SELECT "sequenceId", "repliedAfterStep", 'replied', n FROM histories WHERE "repliedAfterStep" IS NOT NULL
      UNION ALL SELECT "sequenceId", "optedOutAfterStep", 'optedOut', n FROM histories WHERE "optedOutAfterStep" IS NOT NULL),
    per_step AS (
      SELECT "sequenceId", step,
        COALESCE(sum(n) FILTER (WHERE outcome = 'sent'), 0)::int AS sent,
        COALESCE(sum(n) FILTER (WHERE outcome = 'failed'), 0)::int AS failed,
        COALESCE(sum(n) FILTER (WHERE outcome = 'skipped'), 0)::int AS skipped,
        COALESCE(sum(n) FILTER (WHERE outcome = 'replied'), 0)::int AS replied,
        COALESCE(sum(n) FILTER (WHERE outcome = 'optedOut'), 0)::int AS "optedOut"
      FROM outcomes GROUP BY 1, 2)
    SELECT sq.id AS "sequenceId", sq.name AS sequence, k AS step, enrolled.n AS enrolled,
      COALESCE(per_step.sent, 0) AS sent, COALESCE(per_step.failed, 0) AS failed, COALESCE(per_step.skipped, 0) AS skipped,
      COALESCE(per_step.replied, 0) AS replied, COALESCE(per_step."optedOut", 0) AS "optedOut"
    FROM sequences sq
    JOIN enrolled ON enrolled."sequenceId" = sq.id
    CROSS JOIN LATERAL generate_series(0, jsonb_array_length(sq.steps) - 1) AS k
    LEFT JOIN per_step ON per_step."sequenceId" = sq.id AND per_step.step = k
    WHERE sq."workspaceId" = ${scope.workspaceId}
    ORDER BY sq.name, sq.id, k`;
}
