import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { Poller } from '../queue/poller.js';
import { recordActivity, systemActor } from './activities.js';
import { wakeSnoozed } from './conversation.js';

/**
 * What happens to leads when time passes: follow-ups are announced as they fall due (a
 * `follow_up.due` activity, which webhooks carry), once each, and snoozed conversations whose
 * time ran out come back open.
 */
export class LeadTimers {
  private readonly poller: Poller;

  constructor(private readonly deps: { prisma: Db; logger: Logger; pollMs: number }) {
    this.poller = new Poller(async () => {
      await this.announceDue();
      await this.wakeSnoozed();
    }, deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  async announceDue(): Promise<void> {
    try {
      await this.deps.prisma.$transaction(async (tx) => {
        const due = await tx.$queryRaw<{ id: string; workspaceId: string; leadId: string; ownerId: string | null; note: string; dueAt: Date }[]>`
          UPDATE follow_ups SET "dueNotifiedAt" = now()
          WHERE id IN (
            SELECT id FROM follow_ups WHERE status = 'open' AND "dueAt" <= now() AND "dueNotifiedAt" IS NULL
            ORDER BY "dueAt" LIMIT 50 FOR UPDATE SKIP LOCKED)
          RETURNING id, "workspaceId", "leadId", "ownerId", note, "dueAt"`;
        for (const followUp of due) {
          await recordActivity(tx, {
            workspaceId: followUp.workspaceId,
            leadId: followUp.leadId,
            kind: 'follow_up.due',
            actor: systemActor,
            data: { followUpId: followUp.id, ownerId: followUp.ownerId, note: followUp.note, dueAt: new Date(followUp.dueAt).toISOString() },
          });
        }
      });
    } catch (error) {
      this.deps.logger.error({ err: error }, 'could not announce due follow-ups');
    }
  }

  async wakeSnoozed(): Promise<void> {
    try {
      await this.deps.prisma.$transaction((tx) => wakeSnoozed(tx, new Date()));
    } catch (error) {
      this.deps.logger.error({ err: error }, 'could not wake snoozed conversations');
    }
  }
}
