import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Auth } from '../../src/http/route.js';
import { conversationWhere } from '../../src/inbox/conversations.js';
import { createWebform, type DbKind, eventually, postForm, type Stack, startStack } from '../support/stack.js';

interface Conversation {
  id: string;
  name: string | null;
}

const people = [
  { name: 'Ana Souza', email: 'ana.souza@example.com', phone: '(11) 98765-4321', message: 'Quero um orçamento de camisetas 100% algodão' },
  { name: 'Bruno Lima', email: 'bruno@lima.example', phone: '(21) 99876-5432', message: 'Vocês entregam no Rio?' },
  { name: 'Carla Dias', email: 'carla@example.org', phone: '(31) 97654-3210', message: 'Preciso do modelo tamanho_GG' },
];

describe.each<DbKind>(['pglite', 'postgres'])('searching conversations on %s', (db) => {
  let stack: Stack;
  const leadIds = new Map<string, string>();

  const search = async (query: string) => {
    const answer = await stack.api<{ data: Conversation[] }>('GET', `/api/v1/conversations?limit=50&${query}`);
    expect(answer.status).toBe(200);
    return answer.body.data.map((row) => row.name).sort();
  };

  beforeAll(async () => {
    stack = await startStack({ db, queue: 'embedded' });
    const form = await createWebform(stack);
    for (const person of people) {
      expect((await postForm(stack, form, person)).status).toBe(202);
    }
    await eventually(async () => {
      const answer = await stack.api<{ data: Conversation[] }>('GET', '/api/v1/conversations?limit=50');
      expect(answer.body.data).toHaveLength(people.length);
      for (const row of answer.body.data) leadIds.set(row.name!, row.id);
    });
  });
  afterAll(async () => stack?.close());

  it('finds a lead by part of its name, email address, phone number as typed anywhere, or message text', async () => {
    expect(await search('q=souz')).toEqual(['Ana Souza']);
    expect(await search(`q=${encodeURIComponent('BRUNO@LIMA')}`)).toEqual(['Bruno Lima']);
    // Stored in E.164; typed the way people write it.
    expect(await search(`q=${encodeURIComponent('97654 3210')}`)).toEqual(['Carla Dias']);
    expect(await search(`q=${encodeURIComponent('ORÇAMENTO de camisetas')}`)).toEqual(['Ana Souza']);
    expect(await search(`q=${encodeURIComponent('EXAMPLE')}`)).toEqual(['Ana Souza', 'Bruno Lima', 'Carla Dias']);
    expect(await search('q=nobody')).toEqual([]);
  });

  it('takes % and _ literally', async () => {
    expect(await search(`q=${encodeURIComponent('%')}`)).toEqual(['Ana Souza']);
    expect(await search(`q=${encodeURIComponent('o_g')}`)).toEqual(['Carla Dias']);
  });

  it('combines a search with the other filters', async () => {
    await stack.api('PATCH', `/api/v1/leads/${leadIds.get('Bruno Lima')}`, { stage: 'qualified' });
    expect(await search('q=example&stage=qualified')).toEqual(['Bruno Lima']);
    expect(await search('q=souza&stage=qualified')).toEqual([]);
  });

  it('lists the same leads when a search is too broad to collect first', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const auth: Auth = { workspaceId: stack.gateway.bootstrapResult.workspaceId, actor: { type: 'api_key', id: 'test' }, role: 'owner', userId: null };
    for (const q of ['a', 'example', '%', '9876']) {
      const listed = async (limit: number) => {
        const where = await conversationWhere(prisma, auth, { view: 'all', q }, new Date(), limit);
        return (await prisma.lead.findMany({ where, select: { id: true }, orderBy: { id: 'asc' } })).map((lead) => lead.id);
      };
      const collected = await listed(5000);
      expect(collected.length).toBeGreaterThan(0);
      expect(await listed(0)).toEqual(collected);
    }
  });

  it('lists only the leads whose first response is late', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const late = leadIds.get('Carla Dias')!;
    await prisma.responseWindow.updateMany({ where: { leadId: late }, data: { dueAt: new Date(Date.now() - 60_000) } });
    const answer = await stack.api<{ data: Conversation[] }>('GET', '/api/v1/conversations?slaBreached=true');
    expect(answer.body.data.map((row) => row.id)).toEqual([late]);
  });
});
