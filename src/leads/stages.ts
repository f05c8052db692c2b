export const stages = ['open', 'contacted', 'nurture', 'qualified', 'negotiation', 'customer', 'inactive', 'unqualified'] as const;
export type Stage = (typeof stages)[number];

/** The main path a lead travels to be won; the other stages are side roads. */
export const funnelPath: readonly Stage[] = ['open', 'contacted', 'qualified', 'negotiation', 'customer'];

/** The furthest of these stages on the main path ("open" when none is on it). */
export function furthestOnPath(entered: readonly string[]): Stage {
  return funnelPath.reduce<Stage>((furthest, stage) => (entered.includes(stage) ? stage : furthest), 'open');
}

/** A lead in one of these is closed: the next enquiry of the same person opens a new lead. */
export const closedStages: readonly Stage[] = ['customer', 'inactive', 'unqualified'];

const labels: Record<'en' | 'pt-BR', Record<Stage, { label: string; definition: string }>> = {
  en: {
    open: { label: 'Open', definition: 'New lead, nobody has talked to them yet.' },
    contacted: { label: 'Contacted', definition: 'A rep has reached out and is waiting for an answer.' },
    nurture: { label: 'Nurture', definition: 'Interested but not ready to buy; kept warm with content.' },
    qualified: { label: 'Qualified', definition: 'Has the need, budget and timing to buy.' },
    negotiation: { label: 'Negotiation', definition: 'A proposal is on the table.' },
    customer: { label: 'Customer', definition: 'Bought: the lead is won.' },
    inactive: { label: 'Inactive', definition: 'Stopped answering; closed for now.' },
    unqualified: { label: 'Unqualified', definition: 'Not a fit: lost or never a buyer.' },
  },
  'pt-BR': {
    open: { label: 'Aberto', definition: 'Lead novo, ninguém falou com ele ainda.' },
    contacted: { label: 'Contatado', definition: 'Um vendedor entrou em contato e aguarda resposta.' },
    nurture: { label: 'Nutrição', definition: 'Tem interesse mas ainda não está pronto para comprar.' },
    qualified: { label: 'Qualificado', definition: 'Tem necessidade, orçamento e momento para comprar.' },
    negotiation: { label: 'Negociação', definition: 'Há uma proposta em discussão.' },
    customer: { label: 'Cliente', definition: 'Comprou: o lead foi ganho.' },
    inactive: { label: 'Inativo', definition: 'Parou de responder; encerrado por ora.' },
    unqualified: { label: 'Desqualificado', definition: 'Não tem perfil: perdido ou nunca foi comprador.' },
  },
};

export function stageList(locale: string): { slug: Stage; label: string; definition: string }[] {
  const table = locale.toLowerCase().startsWith('pt') ? labels['pt-BR'] : labels.en;
  return stages.map((slug) => ({ slug, ...table[slug] }));
}
