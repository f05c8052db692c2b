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

/** The period's enrolments as `e (id, sequenceId, leadId, enrolledAt, replied_at, opted_out_at)`. */
function enrolmentsSql(scope: Scope, sequenceId: string | undefined): Prisma.Sql {
  return Prisma.sql`
    SELECT se.id, se."sequenceId", se."leadId", se."enrolledAt", se."firstReplyAt" AS replied_at, se."optedOutAt" AS opted_out_at
    FROM sequence_enrollments se ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = se."leadId"` : Prisma.empty}
    WHERE se."workspaceId" = ${scope.workspaceId} AND se."enrolledAt" >= ${scope.from} AND se."enrolledAt" < ${scope.to}
      ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}
      ${sequenceId ? Prisma.sql`AND se."sequenceId" = ${sequenceId}` : Prisma.empty}`;
}

/**
 * Sequence performance per step, for the enrolments made in the period. Two queries at once, as
 * they read different rows: the steps each enrolment went through (its lead's timeline and the
 * step messages), and per step the enrolments and their replies and opt-outs.
 */
export async function sequencePerformance(prisma: Db, scope: Scope, sequenceId?: string): Promise<SequenceStepRow[]> {
  const [rows, outcomes] = await Promise.all([
    prisma.$queryRaw<Omit<SequenceStepRow, 'sent' | 'failed' | 'skipped'>[]>`
      WITH e AS (${enrolmentsSql(scope, sequenceId)}),
      -- The last step sent before the reply or opt-out, read per enrolment through the lead's timeline index.
      attributed AS (
        SELECT f."sequenceId",
          (SELECT max((a.data->>'step')::int) FROM activities a
           WHERE a."leadId" = f."leadId" AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = f."sequenceId" AND a."createdAt" <= f.replied_at) AS replied_step,
          (SELECT max((a.data->>'step')::int) FROM activities a
           WHERE a."leadId" = f."leadId" AND a.kind = 'sequence.step_sent' AND a.data->>'sequenceId' = f."sequenceId" AND a."createdAt" <= f.opted_out_at) AS opted_out_step
        FROM e f WHERE f.replied_at IS NOT NULL OR f.opted_out_at IS NOT NULL),
      replies AS (SELECT "sequenceId", replied_step AS step, count(*)::int AS n FROM attributed WHERE replied_step IS NOT NULL GROUP BY 1, 2),
      opt_outs AS (SELECT "sequenceId", opted_out_step AS step, count(*)::int AS n FROM attributed WHERE opted_out_step IS NOT NULL GROUP BY 1, 2),
      enrolled AS (SELECT "sequenceId", count(*)::int AS n FROM e GROUP BY 1)
      SELECT sq.id AS "sequenceId", sq.name AS sequence, k AS step, enrolled.n AS enrolled,
        COALESCE(replies.n, 0) AS replied, COALESCE(opt_outs.n, 0) AS "optedOut"
      FROM sequences sq
      JOIN enrolled ON enrolled."sequenceId" = sq.id
      CROSS JOIN LATERAL generate_series(0, jsonb_array_length(sq.steps) - 1) AS k
      LEFT JOIN replies ON replies."sequenceId" = sq.id AND replies.step = k
      LEFT JOIN opt_outs ON opt_outs."sequenceId" = sq.id AND opt_outs.step = k
      WHERE sq."workspaceId" = ${scope.workspaceId}
      ORDER BY sq.name, sq.id, k`,
    // An enrolment's steps, read through the lead's timeline index from the moment it was enrolled.
    prisma.$queryRaw<{ sequenceId: string; step: number; sent: number; failed: number; skipped: number }[]>`
      WITH e AS (${enrolmentsSql(scope, sequenceId)})
      SELECT e."sequenceId", (a.data->>'step')::int AS step,
        count(*) FILTER (WHERE a.kind = 'sequence.step_sent' AND m.status IN ('sent', 'delivered', 'read'))::int AS sent,
        count(*) FILTER (WHERE a.kind = 'sequence.step_sent' AND m.status = 'failed')::int AS failed,
        count(*) FILTER (WHERE a.kind = 'sequence.step_skipped')::int AS skipped
      FROM e JOIN activities a ON a."leadId" = e."leadId" AND a."createdAt" >= e."enrolledAt"
        AND a.kind IN ('sequence.step_sent', 'sequence.step_skipped') AND a.data->>'sequenceId' = e."sequenceId"
      LEFT JOIN messages m ON m.id = a.data->>'messageId'
      GROUP BY 1, 2`,
  ]);
  return rows.map((row) => {
    const steps = outcomes.find((outcome) => outcome.sequenceId === row.sequenceId && outcome.step === row.step);
    return {
      sequenceId: row.sequenceId,
      sequence: row.sequence,
      step: row.step,
      enrolled: row.enrolled,
      sent: steps?.sent ?? 0,
      failed: steps?.failed ?? 0,
      skipped: steps?.skipped ?? 0,
      replied: row.replied,
      optedOut: row.optedOut,
    };
  });
}
