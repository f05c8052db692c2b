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
  return variablesOf(
    {
      name: lead.name ?? lead.contact.name ?? null,
      identities: lead.contact.identities,
      owner: lead.owner,
      workspaceName: lead.workspace.name,
      productName: lead.products[0]?.product.name ?? null,
    },
    extra,
  );
}

/** The same variables, from what the caller already holds. */
export function variablesOf(
  lead: {
    name: string | null;
    identities: { kind: string; value: string }[];
    owner: { name: string; phone: string | null; email: string } | null;
    workspaceName: string;
    productName: string | null;
  },
  extra: Record<string, unknown> = {},
): TemplateVariables {
  const identity = (kind: string) => lead.identities.find((row) => row.kind === kind)?.value ?? null;
  const { name } = lead;
  return {
    ...extra,
    lead: { name, firstName: name ? (name.trim().split(/\s+/)[0] ?? null) : null, email: identity('email'), phone: identity('phone') },
    owner: { name: lead.owner?.name ?? null, phone: lead.owner?.phone ?? null, email: lead.owner?.email ?? null },
    workspace: { name: lead.workspaceName },
    product: { name: lead.productName },
  };
}
