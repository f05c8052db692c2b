import type { Prisma } from '@prisma/client';
import type { TemplateVariables } from './templates.js';

/** The variables every template may use, from the lead as it is now. */
export async function templateVariables(tx: Prisma.TransactionClient, leadId: string, extra: Record<string, unknown> = {}): Promise<TemplateVariables> {
  const lead = await tx.lead.findUniqueOrThrow({
    where: { id: leadId },
    include: {
      owner: true,
      workspace: true,
      contact: { include: { identities: true } },
      products: { include: { product: true }, take: 1 },
    },
  });
  const identity = (kind: string) => lead.contact.identities.find((row) => row.kind === kind)?.value ?? null;
  const name = lead.name ?? lead.contact.name ?? null;
  return {
    ...extra,
    lead: { name, firstName: name ? (name.trim().split(/\s+/)[0] ?? null) : null, email: identity('email'), phone: identity('phone') },
    owner: { name: lead.owner?.name ?? null, phone: lead.owner?.phone ?? null, email: lead.owner?.email ?? null },
    workspace: { name: lead.workspace.name },
    product: { name: lead.products[0]?.product.name ?? null },
  };
}
