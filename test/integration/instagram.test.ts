import { createHmac } from 'node:crypto';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultBackends, eventually, type Stack, startStack } from '../support/stack.js';

const publicUrl = 'https://leads.acme.test';
const graph = 'https://graph.facebook.com';
const appSecret = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const pageToken = 'EAAInstagramPageToken0123456789abcdef';
const pageId = '109876543210999';
const igAccountId = '17841400000000001';

interface Lead {
  id: string;
  name: string | null;
  instagramId: string | null;
  channel: string;
  customFields: Record<string, string>;
}
interface MessageView {
  id: string;
  direction: 'in' | 'out';
  status: string;
  text: string | null;
  errorCode?: string | null;
  error?: string | null;
  attachments: { filename: string; status: string; size: number | null; url: string }[];
}

function sign(raw: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/** One `messaging` item of an Instagram webhook as Meta documents it. */
function item(sender: string, message: Record<string, unknown>, at = Date.now()) {
  return { sender: { id: sender }, recipient: { id: igAccountId }, timestamp: at, message };
}

describe.each(defaultBackends)('Instagram Direct on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let sourceId: string;

  async function post(body: unknown) {
    const raw = JSON.stringify(body)
      .replace(/\//g, '\\/')
      .replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const response = await fetch(`${stack.baseUrl}/hooks/meta/${sourceId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw) }, body: raw });
    return response.status;
  }
  async function leadOf(instagramId: string): Promise<Lead> {
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?channel=instagram&limit=200');
      const found = body.data.filter((lead) => lead.instagramId === instagramId);
      expect(found).toHaveLength(1);
      return (await stack.api<Lead>('GET', `/api/v1/leads/${found[0]!.id}`)).body;
    });
  }
  async function messagesOf(leadId: string): Promise<MessageView[]> {
    return (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data;
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db, queue, env: { PUBLIC_URL: publicUrl } });
    const check = nock(graph).get(`/v21.0/${igAccountId}`).query({ fields: 'id,username' }).matchHeader('authorization', `Bearer ${pageToken}`).reply(200, { id: igAccountId, username: 'acmesolar' });
    const created = await stack.api<{ id: string; webhookUrl: string; verifyToken: string }>('POST', '/api/v1/sources', {
      kind: 'instagram',
      name: 'Instagram',
      appSecret,
      accessToken: pageToken,
      pageId,
      instagramAccountId: igAccountId,
      autoReplyTemplate: null,
    });
    expect(created.status).toBe(201);
    check.done();
    sourceId = created.body.id;
    expect(created.body.webhookUrl).toBe(`${publicUrl}/hooks/meta/${sourceId}`);
    expect(JSON.stringify(created.body)).not.toContain(pageToken);
  });

  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });

  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  it('captures text, story replies and mentions with their links, files and ad referrals, naming the person once', async () => {
    const person = '6543210987654321';
    const profile = nock(graph)
      .get(`/v21.0/${person}`)
      .query({ fields: 'name,username' })
      .matchHeader('authorization', `Bearer ${pageToken}`)
      .reply(200, { name: 'Lívia Martins', username: 'livia.martins', id: person });
    const photo = nock('https://lookaside.fbsbx.com').get('/ig_messaging_cdn/').query({ asset_id: '17900000000000001', signature: 'abc' }).reply(200, Buffer.from([0xff, 0xd8, 0xff, 0xe0]), { 'content-type': 'image/jpeg' });
    const body = {
      object: 'instagram',
      entry: [
        {
          id: igAccountId,
          time: Date.now(),
          messaging: [
            item(person, {
              mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwMQZDZD',
              text: 'Vi o anúncio, quanto custa a instalação?',
              referral: { ref: 'verao', ad_id: '120210000000000077', source: 'ADS', type: 'OPEN_THREAD', ads_context_data: { ad_title: 'Energia solar no verão', photo_url: 'https://scontent.cdninstagram.com/ad.jpg' } },
            }),
            item(person, { mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwMgZDZD', text: 'Que lindo!', reply_to: { story: { url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=story1', id: '18000000000000001' } } }),
          ],
        },
        {
          id: igAccountId,
          time: Date.now(),
          messaging: [
            item(person, { mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwMwZDZD', attachments: [{ type: 'image', payload: { url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000001&signature=abc' } }] }),
            item(person, { mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwNAZDZD', attachments: [{ type: 'story_mention', payload: { url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=mention1' } }] }),
            // Our own reply, echoed back: not the person's message.
            { sender: { id: igAccountId }, recipient: { id: person }, timestamp: Date.now(), message: { mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwNQZDZD', text: 'Olá!', is_echo: true } },
          ],
        },
      ],
    };
    expect(await post(body)).toBe(200);
    // Meta retries: nothing twice, and the name is not asked for again.
    expect(await post(body)).toBe(200);
    const lead = await leadOf(person);
    expect(lead).toMatchObject({ name: 'Lívia Martins', channel: 'instagram' });
    expect(lead.customFields).toMatchObject({ ad_id: '120210000000000077', ad_title: 'Energia solar no verão', ad_source_type: 'ads', ad_ref: 'verao' });
    const messages = await eventually(async () => {
      const found = (await messagesOf(lead.id)).filter((m) => m.direction === 'in');
      expect(found).toHaveLength(4);
      expect(found[2]!.attachments[0]?.status).toBe('stored');
      return found;
    });
    expect(messages.map((m) => m.text)).toEqual([
      'Vi o anúncio, quanto custa a instalação?',
      'Que lindo!\nReplied to your story: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=story1',
      null,
      'Mentioned you in their story: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=mention1',
    ]);
    expect(messages[2]!.attachments[0]!.size).toBe(4);
    profile.done();
    photo.done();
  });

  it('replies within the window through the page, and refuses before sending outside it', async () => {
    const recent = '6543210987650001';
    const stale = '6543210987650002';
    nock(graph).get(`/v21.0/${recent}`).query(true).reply(200, { name: 'Rui', username: 'rui' });
    nock(graph).get(`/v21.0/${stale}`).query(true).reply(403, { error: { message: 'User consent is required to access user profile', type: 'OAuthException', code: 230, fbtrace_id: 'x' } });
    const twoDaysAgo = Date.now() - 48 * 60 * 60_000;
    expect(
      await post({
        object: 'instagram',
        entry: [
          { id: igAccountId, time: Date.now(), messaging: [item(recent, { mid: 'mid.recent.0001', text: 'Oi, tudo bem?' })] },
          { id: igAccountId, time: Date.now(), messaging: [item(stale, { mid: 'mid.stale.0001', text: 'Tem horário sábado?' }, twoDaysAgo)] },
        ],
      }),
    ).toBe(200);
    const recentLead = await leadOf(recent);
    const staleLead = await leadOf(stale);
    // Without a profile the person is kept by id alone.
    expect(staleLead.name).toBeNull();

    const send = nock(graph)
      .post(`/v21.0/${pageId}/messages`, { recipient: { id: recent }, message: { text: 'Tudo ótimo! Como posso ajudar?' } })
      .matchHeader('authorization', `Bearer ${pageToken}`)
      .reply(200, { recipient_id: recent, message_id: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjk5OQZDZD' });
    const ok = await stack.api<{ messageId: string; channel: string }>('POST', `/api/v1/leads/${recentLead.id}/messages`, { text: 'Tudo ótimo! Como posso ajudar?' });
    expect(ok.body.channel).toBe('instagram');
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${ok.body.messageId}`)).body.status).toBe('sent'));
    send.done();

    const late = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${staleLead.id}/messages`, { text: 'Temos sim!' });
    await eventually(async () => {
      const message = (await stack.api<MessageView>('GET', `/api/v1/messages/${late.body.messageId}`)).body;
      expect(message.status).toBe('failed');
      expect(message.errorCode).toBe('outside_window');
    });
  });
});
