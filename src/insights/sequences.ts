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

/** Sequence performance per step, for the enrolments made in the period. */
export async function sequencePerformance(prisma: Db, scope: Scope, sequenceId?: string): Promise<SequenceStepRow[]> {
  return prisma.$queryRaw<SequenceStepRow[]>`
    WITH e AS (
      SELECT se.id, se."sequenceId", se."leadId", se."enrolledAt", se."firstReplyAt" AS replied_at, se."optedOutAt" AS opted_out_at
      FROM sequence_enrollments se ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = se."leadId"` : Prisma.empty}
      WHERE se."workspaceId" = ${scope.workspaceId} AND se."enrolledAt" >= ${scope.from} AND se."enrolledAt" < ${scope.to}
        ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}
        ${sequenceId ? Prisma.sql`AND se."sequenceId" = ${sequenceId}` : Prisma.empty}),
    -- An enrolment's steps, read through the lead's timeline index from the moment it was enrolled.
    steps AS (
      SELECT e.id AS enrollment, e."sequenceId", a.kind, (a.data->>'step')::int AS step, a."createdAt" AS at, m.status
      FROM e JOIN activities a ON a."leadId" = e."leadId" AND a."createdAt" >= e."enrolledAt"
        AND a.kind IN ('sequence.step_sent', 'sequence.step_skipped') AND a.data->>'sequenceId' = e."sequenceId"
      LEFT JOIN messages m ON m.id = a.data->>'messageId'),
    -- The last step sent before the reply or opt-out, read per enrolment through the lead's timeline index.
    attributed AS (
      SELECT f."sequenceId",
        (SELECT max((a.data->>'step')::int) FROM activities a
         WHERE a."leadId" = f."leadId" AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = f."sequenceId" AND a."createdAt" <= f.replied_at) AS replied_step,
        (SELECT max((a.data->>'step')::int) FROM activities a
         WHERE a."leadId" = f."leadId" AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = f."sequenceId" AND a."createdAt" <= f.opted_out_at) AS opted_out_step
      FROM e f WHERE f.replied_at IS NOT NULL OR f.opted_out_at IS NOT NULL),
    per_step AS (
      SELECT "sequenceId", step,
        count(*) FILTER (WHERE kind = 'sequence.step_sent' AND status IN ('sent', 'delivered', 'read'))::int AS sent,
        count(*) FILTER (WHERE kind = 'sequence.step_sent' AND status = 'failed')::int AS failed,
        count(*) FILTER (WHERE kind = 'sequence.step_skipped')::int AS skipped
      FROM steps GROUP BY 1, 2),
    replies AS (SELECT "sequenceId", replied_step AS step, count(*)::int AS n FROM attributed WHERE replied_step IS NOT NULL GROUP BY 1, 2),
    opt_outs AS (SELECT "sequenceId", opted_out_step AS step, count(*)::int AS n FROM attributed WHERE opted_out_step IS NOT NULL GROUP BY 1, 2),
    enrolled AS (SELECT "sequenceId", count(*)::int AS n FROM e GROUP BY 1)
    SELECT sq.id AS "sequenceId", sq.name AS sequence, k AS step, enrolled.n AS enrolled,
      COALESCE(per_step.sent, 0) AS sent, COALESCE(per_step.failed, 0) AS failed, COALESCE(per_step.skipped, 0) AS skipped,
      COALESCE(replies.n, 0) AS replied, COALESCE(opt_outs.n, 0) AS "optedOut"
    FROM sequences sq
    JOIN enrolled ON enrolled."sequenceId" = sq.id
    CROSS JOIN LATERAL generate_series(0, jsonb_array_length(sq.steps) - 1) AS k
    LEFT JOIN per_step ON per_step."sequenceId" = sq.id AND per_step.step = k
    LEFT JOIN replies ON replies."sequenceId" = sq.id AND replies.step = k
    LEFT JOIN opt_outs ON opt_outs."sequenceId" = sq.id AND opt_outs.step = k
    WHERE sq."workspaceId" = ${scope.workspaceId}
    ORDER BY sq.name, sq.id, k`;
}
