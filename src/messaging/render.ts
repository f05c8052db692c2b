import type { Prisma } from '@prisma/client';
import type { ChannelKind } from '../channels/contract.js';
import type { RenderedMessage, TemplateStore } from './templates.js';
import { templateVariables } from './variables.js';

/** Renders a template for a lead, with the workspace's own templates in front of the shipped ones. */
export async function renderForLead(
  tx: Prisma.TransactionClient,
  store: TemplateStore,
  lead: { id: string; workspaceId: string },
  template: { name: string; locale: string; channel: ChannelKind },
  extra: Record<string, unknown> = {},
): Promise<RenderedMessage> {
  const own = await tx.messageTemplate.findMany({ where: { workspaceId: lead.workspaceId, name: template.name, channel: template.channel } });
  return store.render(template.name, template.locale, template.channel, await templateVariables(tx, lead.id, extra), own);
}
