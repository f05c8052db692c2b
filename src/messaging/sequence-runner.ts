import type { Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import type { ChannelKind } from '../channels/contract.js';
import type { Db } from '../db/client.js';
import { Poller } from '../queue/poller.js';
import { errorMessage } from '../errors.js';
import { recordActivity, systemActor } from '../leads/activities.js';
import type { Outbound } from './outbound.js';
import { inQuietHours } from './quiet-hours.js';
import { renderForLead } from './render.js';
import type { SequenceStep } from './sequences.js';
import { parseTemplateId, type TemplateStore, textToHtml } from './templates.js';
import { unsubscribeFooter, unsubscribeUrl } from './unsubscribe.js';
import type { SecretBox } from '../security/secrets.js';

type Tx = Prisma.TransactionClient;

const dayMs = 24 * 3600_000;

/**
 * When the next automatic message to the contact on the channel may go under a cap of `cap` a
 * day (any 24 hours), or null when it may go now. Messages that failed or were canceled did not
 * reach the person and do not count.
 */
async function dailyCapFreesAt(tx: Tx, contactId: string, channel: ChannelKind, cap: number): Promise<Date | null> {
  const recent = await tx.message.findMany({
    where: {
      lead: { contactId },
      direction: 'out',
      channel,
      automatic: true,
      status: { notIn: ['failed', 'canceled'] },
      createdAt: { gt: new Date(Date.now() - dayMs) },
    },
    orderBy: { createdAt: 'desc' },
    take: cap,
    select: { createdAt: true },
  });
  return recent.length < cap ? null : new Date(recent[cap - 1]!.createdAt.getTime() + dayMs);
}

/**
 * Runs due sequence steps. A step runs exactly once: its message carries the idempotency key
 * "sequence:<enrollment>:<step>", in the same transaction that moves the enrollment on.
 */
export class SequenceRunner {
  private readonly poller: Poller;

  constructor(
    private readonly deps: { prisma: Db; outbound: Outbound; templates: TemplateStore; box: SecretBox; publicUrl: string; logger: Logger; pollMs: number },
  ) {
    this.poller = new Poller(() => this.runDue(), this.deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  async runDue(): Promise<void> {
    try {
      const claimed = await this.deps.prisma.$queryRaw<{ id: string }[]>`
        UPDATE sequence_enrollments SET "lockedUntil" = now() + interval '60 seconds'
        WHERE id IN (
          SELECT id FROM sequence_enrollments
          WHERE status = 'active' AND "nextStepAt" <= now() AND ("lockedUntil" IS NULL OR "lockedUntil" < now())
          ORDER BY "nextStepAt" LIMIT 20 FOR UPDATE SKIP LOCKED)
        RETURNING id`;
      for (const { id } of claimed) {
        try {
          const queued = await this.deps.prisma.$transaction((tx) => this.step(tx, id), { timeout: 30_000, maxWait: 30_000 });
          if (queued) this.deps.outbound.wake(queued);
        } catch (error) {
          this.deps.logger.error({ err: error, enrollmentId: id }, 'sequence step failed; it runs again when its lock expires');
        }
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'sequence round failed');
    }
  }

  /**
   * Sends the step's template. `stopped`: the contact left the channel and the enrolment ended
   * instead; `waiting`: the channel's daily cap for this person is reached, and the step runs again
   * when it frees.
   */
  private async send(
    tx: Tx,
    args: { enrollmentId: string; index: number; step: SequenceStep; lead: Prisma.LeadGetPayload<{ include: { workspace: true } }>; sequenceId: string },
  ): Promise<{ outcome: 'sent'; messageId: string } | { outcome: 'skipped' | 'stopped' | 'waiting' }> {
    const { enrollmentId: id, index, step, lead, sequenceId } = args;
    const parsed = parseTemplateId(step.templateId);
    const base = { workspaceId: lead.workspaceId, leadId: lead.id, actor: systemActor };
    try {
      const route = await this.deps.outbound.planReply(tx, lead.id, step.channel ?? parsed?.channel);
      const optedOut = await tx.contactOptOut.findUnique({ where: { contactId_channel: { contactId: lead.contactId, channel: route.channel } } });
      if (optedOut) {
        await tx.sequenceEnrollment.update({ where: { id }, data: { status: 'stopped', stopReason: `the contact opted out of ${route.channel}`, lockedUntil: null } });
        await recordActivity(tx, { ...base, kind: 'sequence.stopped', data: { sequenceId, reason: `the contact opted out of ${route.channel}` } });
        return { outcome: 'stopped' };
      }
      const cap = await this.deps.outbound.automaticDailyCap(tx, route);
      const freesAt = cap === undefined ? null : await dailyCapFreesAt(tx, lead.contactId, route.channel, cap);
      if (freesAt) {
        await tx.sequenceEnrollment.update({ where: { id }, data: { nextStepAt: freesAt, lockedUntil: null } });
        return { outcome: 'waiting' };
      }
      const locale = parsed?.locale ?? lead.workspace.locale;
      const rendered = await renderForLead(tx, this.deps.templates, lead, { name: parsed?.name ?? step.templateId, locale, channel: route.channel });
      if (route.channel === 'email') {
        // Nurture email says how to stop it; the same link goes in List-Unsubscribe when it is sent.
        rendered.text = `${rendered.text}\n\n${unsubscribeFooter(locale, unsubscribeUrl(this.deps.publicUrl, this.deps.box, lead.contactId, 'email'))}`;
        rendered.html = textToHtml(rendered.text);
      }
      const messageId = await this.deps.outbound.queueMessage(tx, {
        workspaceId: lead.workspaceId,
        leadId: lead.id,
        ...route,
        ...rendered,
        templateName: parsed?.name ?? step.templateId,
        idempotencyKey: `sequence:${id}:${index}`,
        sequenceStep: { enrollmentId: id, step: index },
        automatic: true,
        author: systemActor,
      });
      await recordActivity(tx, { ...base, kind: 'sequence.step_sent', data: { sequenceId, step: index, messageId, channel: route.channel } });
      return { outcome: 'sent', messageId };
    } catch (error) {
      await recordActivity(tx, { ...base, kind: 'sequence.step_skipped', data: { sequenceId, step: index, reason: errorMessage(error) } });
      return { outcome: 'skipped' };
    }
  }

  private async unmetCondition(tx: Tx, lead: { id: string; stage: string; score: number }, step: SequenceStep): Promise<string | null> {
    const when = step.when;
    if (!when) return null;
    if (when.stages?.length && !when.stages.includes(lead.stage)) return `the lead is ${lead.stage}, not ${when.stages.join(' or ')}`;
    if (when.minScore !== undefined && lead.score < when.minScore) return `the lead scores ${lead.score}, under ${when.minScore}`;
    if (when.productIds?.length) {
      const match = await tx.leadProduct.findFirst({ where: { leadId: lead.id, productId: { in: when.productIds } }, select: { productId: true } });
      if (!match) return 'the lead has none of the step\'s products';
    }
    return null;
  }

  private async step(tx: Tx, id: string): Promise<string | null> {
    // Held until the step commits: a stop by hand waits for it, or the step sees the stop.
    await tx.$queryRaw`SELECT id FROM sequence_enrollments WHERE id = ${id} FOR UPDATE`;
    const enrollment = await tx.sequenceEnrollment.findUniqueOrThrow({ where: { id }, include: { sequence: true } });
    if (enrollment.status !== 'active') return null;
    const { sequence } = enrollment;
    const steps = sequence.steps as unknown as SequenceStep[];
    const lead = await tx.lead.findUniqueOrThrow({ where: { id: enrollment.leadId }, include: { workspace: true } });
    const base = { workspaceId: enrollment.workspaceId, leadId: lead.id, actor: systemActor };
    const stop = async (reason: string) => {
      await tx.sequenceEnrollment.update({ where: { id }, data: { status: 'stopped', stopReason: reason, lockedUntil: null } });
      await recordActivity(tx, { ...base, kind: 'sequence.stopped', data: { sequenceId: sequence.id, reason } });
      return null;
    };

    if (!sequence.active) return stop('the sequence was turned off');
    if (sequence.exitStages.includes(lead.stage)) return stop(`the lead reached ${lead.stage}`);
    const replied = await tx.message.findFirst({ where: { leadId: lead.id, direction: 'in', createdAt: { gt: enrollment.enrolledAt } }, select: { id: true } });
    if (replied) return stop('the lead replied');
    const resumeAt = inQuietHours(lead.workspace.quietHours, lead.workspace.timeZone, new Date());
    if (resumeAt) {
      await tx.sequenceEnrollment.update({ where: { id }, data: { nextStepAt: resumeAt, lockedUntil: null } });
      return null;
    }

    const index = enrollment.nextStep;
    const step = steps[index]!;
    let messageId: string | null = null;
    const unmet = await this.unmetCondition(tx, lead, step);
    if (unmet) {
      await recordActivity(tx, { ...base, kind: 'sequence.step_skipped', data: { sequenceId: sequence.id, step: index, reason: unmet } });
    } else {
      const sent = await this.send(tx, { enrollmentId: id, index, step, lead, sequenceId: sequence.id });
      if (sent.outcome === 'stopped' || sent.outcome === 'waiting') return null;
      if (sent.outcome === 'sent') messageId = sent.messageId;
    }
    const next = index + 1;
    if (next >= steps.length) {
      await tx.sequenceEnrollment.update({ where: { id }, data: { status: 'completed', nextStep: next, lockedUntil: null } });
      await recordActivity(tx, { ...base, kind: 'sequence.completed', data: { sequenceId: sequence.id } });
    } else {
      await tx.sequenceEnrollment.update({
        where: { id },
        data: { nextStep: next, nextStepAt: new Date(Date.now() + steps[next]!.waitMinutes * 60_000), lockedUntil: null },
      });
    }
    return messageId;
  }
}
