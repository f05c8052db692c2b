import { randomBytes } from 'node:crypto';
import { proto } from '@whiskeysockets/baileys';
import { pino } from 'pino';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { DisconnectCode, disconnect, FakeWhatsApp, type FakeWhatsAppSocket, messageId, receivedMessage, unreadableMessage } from '../support/fake-whatsapp.js';
import { createWebform, defaultBackends, eventually, postForm, settle, type Stack, startStack } from '../support/stack.js';

const business = '5511955550000';
const timing = {
  typingMs: 20,
  sendGapMs: 10,
  retryBaseMs: 50,
  retryMaxMs: 200,
  pairingPollMs: 50,
  watchdogMs: 400,
  pingTimeoutMs: 200,
  mediaAttempts: 3,
  mediaRetryBaseMs: 50,
  mediaPollMs: 200,
  ackTimeoutMs: 1_000,
  elsewhereRetryMs: 100,
};

interface Lead {
  id: string;
  contactId: string;
  name: string | null;
  phone: string | null;
  whatsappId: string | null;
  channel: string;
}
interface MessageView {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  text: string | null;
  status: string;
  error?: string;
  errorCode?: string;
  attachments: { filename: string; contentType: string; size: number; url: string; status: 'stored' | 'pending' | 'failed'; error?: string }[];
}
interface SourceView {
  id: string;
  status: { state: string; connectedAs?: string; lastError?: string; lastMessageAt?: string | null };
}

const person = (digits: string) => `${digits}@s.whatsapp.net`;
const text = (conversation: string): proto.IMessage => ({ conversation });

describe.each(defaultBackends)('the WhatsApp channel on $db with the $queue queue', ({ db, queue }) => {
  const fake = new FakeWhatsApp();
  let stack: Stack;
  let sourceId: string;
  const live = (): FakeWhatsAppSocket => {
    const socket = fake.live;
    if (!socket) throw new Error('no live socket');
    return socket;
  };

  const source = async () => (await stack.api<SourceView>('GET', `/api/v1/sources/${sourceId}`)).body;
  const prisma = () => stack.gateway.deps.db.prisma;
  async function leadOf(whatsappId: string): Promise<Lead> {
    return eventually(async () => {
      const identity = await prisma().contactIdentity.findFirst({ where: { kind: 'whatsapp', value: whatsappId } });
      expect(identity).not.toBeNull();
      const lead = await prisma().lead.findFirst({ where: { contactId: identity!.contactId }, orderBy: { createdAt: 'desc' } });
      expect(lead).not.toBeNull();
      return (await stack.api<Lead>('GET', `/api/v1/leads/${lead!.id}`)).body;
    });
  }
  async function conversation(leadId: string): Promise<MessageView[]> {
    return (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data;
  }
  /** The open socket, once the API says connected too. */
  async function connected(): Promise<FakeWhatsAppSocket> {
    return eventually(async () => {
      expect(fake.live?.opened).toBe(true);
      expect((await source()).status.state).toBe('connected');
      return live();
    });
  }

  beforeAll(async () => {
    // Webhooks to a documentation address (203.0.113.0/24) record what would be announced; nothing answers there.
    stack = await startStack({ db, queue, env: { LEADGATE_WEBHOOKS_ALLOW_PRIVATE: 'true' }, adapterOptions: { whatsapp: { driver: fake, timing } } });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Solar', locale: 'en' });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('links a number: a QR code (PNG and text) or a pairing code, then connected', async () => {
    const created = await stack.api<SourceView & { linking: { qr: string } }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Vendas', autoReplyTemplate: null });
    expect(created.status).toBe(201);
    sourceId = created.body.id;
    // Not linked yet: never shown as connected.
    expect(['connecting', 'pairing']).toContain(created.body.status.state);
    expect(created.body.linking.qr).toMatch(new RegExp(`/api/v1/sources/${sourceId}/qr$`));

    const png = await eventually(async () => {
      const response = await fetch(`${stack.baseUrl}/api/v1/sources/${sourceId}/qr`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/png');
      return Buffer.from(await response.arrayBuffer());
    });
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect((await source()).status.state).toBe('pairing');

    // WhatsApp rotates the code; the endpoint serves the newest one.
    const rotated = live().rotateQr();
    await eventually(async () => {
      const response = await fetch(`${stack.baseUrl}/api/v1/sources/${sourceId}/qr?format=text`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await response.text()).toBe(await QRCode.toString(rotated, { type: 'utf8' }));
    });

    const pairing = await stack.api<{ code: string }>('POST', `/api/v1/sources/${sourceId}/pairing-code`, { phone: '+55 (11) 95555-0000' });
    expect(pairing).toMatchObject({ status: 200, body: { code: 'K7Q2ZX4M' } });
    expect(live().pairingCodeRequests).toEqual([business]);
    const badPhone = await stack.api<{ errors: { path: string }[] }>('POST', `/api/v1/sources/${sourceId}/pairing-code`, { phone: 'call me' });
    expect(badPhone.status).toBe(422);
    expect(badPhone.body.errors[0]!.path).toBe('phone');

    const pairingSocket = live();
    await pairingSocket.link(business);
    const socket = await connected();
    expect(socket).not.toBe(pairingSocket);
    expect(socket.qrs).toEqual([]);
    expect((await source()).status.connectedAs).toBe(`+${business}`);

    const noQr = await stack.api<{ type: string }>('GET', `/api/v1/sources/${sourceId}/qr`);
    expect(noQr.status).toBe(409);
    expect(noQr.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    // Credentials and keys are in the database, sealed: nothing readable in the rows.
    const secrets = await prisma().sourceSecret.findMany({ where: { sourceId } });
    expect(secrets.map((row) => row.key)).toEqual(expect.arrayContaining(['creds', 'signal:pre-key:1', 'signal:app-state-sync-key:AAAAAQ']));
    for (const row of secrets) expect(row.value).not.toMatch(/Acme Solar|s\.whatsapp\.net|keyData/);
  });

  it('turns every kind of message into the lead\'s conversation, in order, with the right contact', async () => {
    const socket = await connected();
    const ana = person('5511987654321');
    const photo = randomBytes(2048);
    const voice = randomBytes(900);
    const pdf = Buffer.from('%PDF-1.4 orçamento');
    const video = randomBytes(1500);
    for (const [path, data] of [['/v/photo', photo], ['/v/voice', voice], ['/v/pdf', pdf], ['/v/video', video]] as const) fake.media.set(path, data);
    const media = (path: string, data: Buffer) => ({ directPath: path, mediaKey: randomBytes(32), fileLength: data.length, url: `https://mmg.whatsapp.net${path}` });

    const first = receivedMessage({ from: ana, pushName: 'Ana Souza', message: text('Olá, quero um orçamento de placas solares') });
    const messages = [
      first,
      receivedMessage({
        from: ana,
        pushName: 'Ana Souza',
        message: { extendedTextMessage: { text: 'Para uma casa de 3 quartos', contextInfo: { stanzaId: first.key.id, participant: ana, quotedMessage: first.message } } },
      }),
      receivedMessage({ from: ana, message: { imageMessage: { caption: 'Meu telhado', mimetype: 'image/jpeg', ...media('/v/photo', photo) } } }),
      receivedMessage({ from: ana, message: { audioMessage: { ptt: true, seconds: 7, mimetype: 'audio/ogg; codecs=opus', ...media('/v/voice', voice) } } }),
      receivedMessage({
        from: ana,
        message: { documentWithCaptionMessage: { message: { documentMessage: { caption: 'Conta de luz', fileName: 'conta.pdf', mimetype: 'application/pdf', ...media('/v/pdf', pdf) } } } },
      }),
      receivedMessage({ from: ana, message: { videoMessage: { caption: 'Vista do telhado', mimetype: 'video/mp4', ...media('/v/video', video) } } }),
      receivedMessage({ from: ana, message: { locationMessage: { degreesLatitude: -23.5505, degreesLongitude: -46.6333, name: 'Casa', address: 'Rua Augusta, 100' } } }),
      receivedMessage({
        from: ana,
        message: { contactMessage: { displayName: 'João Souza', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:João Souza\nTEL;type=CELL;waid=5511912345678:+55 11 91234-5678\nEND:VCARD' } },
      }),
      // Not leads: a group, a status, a broadcast list, a channel, a reaction; not messages at all: a protocol message.
      receivedMessage({ from: '120363025246125486@g.us', participant: person('5511911110000'), message: text('group chatter') }),
      receivedMessage({ from: 'status@broadcast', participant: person('5511911110000'), message: text('my status') }),
      receivedMessage({ from: '1718900000@broadcast', participant: person('5511911110000'), message: text('promoção da semana') }),
      receivedMessage({ from: '120363144038483540@newsletter', message: text('channel news') }),
      receivedMessage({ from: ana, message: { reactionMessage: { key: { remoteJid: ana, id: first.key.id, fromMe: false }, text: '👍' } } }),
      receivedMessage({ from: ana, message: { protocolMessage: { type: proto.Message.ProtocolMessage.Type.REVOKE, key: { remoteJid: ana, id: first.key.id } } } }),
    ];
    socket.receive(messages);

    const { id: leadId } = await leadOf(ana);
    const thread = await eventually(async () => {
      const found = await conversation(leadId);
      expect(found).toHaveLength(8);
      // The files follow their messages, each downloaded after its message was stored.
      expect(found.flatMap((message) => message.attachments.map((file) => file.status))).toEqual(Array(4).fill('stored'));
      return found;
    });
    expect(await leadOf(ana)).toMatchObject({ id: leadId, name: 'Ana Souza', phone: '+5511987654321', whatsappId: ana, channel: 'whatsapp' });
    expect(thread.map((message) => [message.direction, message.channel, message.status])).toEqual(Array(8).fill(['in', 'whatsapp', 'received']));
    expect(thread.map((message) => message.text)).toEqual([
      'Olá, quero um orçamento de placas solares',
      'Para uma casa de 3 quartos',
      'Meu telhado',
      null,
      'Conta de luz',
      'Vista do telhado',
      'Location: Casa, Rua Augusta, 100: https://maps.google.com/?q=-23.5505,-46.6333',
      'Contact: João Souza (+5511912345678)',
    ]);
    const files = thread.flatMap((message) => message.attachments);
    expect(files.map(({ filename, contentType, size }) => ({ filename, contentType, size }))).toEqual([
      { filename: `image-${messages[2]!.key.id}.jpg`, contentType: 'image/jpeg', size: photo.length },
      { filename: `voice-note-${messages[3]!.key.id}.ogg`, contentType: 'audio/ogg', size: voice.length },
      { filename: 'conta.pdf', contentType: 'application/pdf', size: pdf.length },
      { filename: `video-${messages[5]!.key.id}.mp4`, contentType: 'video/mp4', size: video.length },
    ]);
    const download = await fetch(`${stack.baseUrl}${files[2]!.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(Buffer.from(await download.arrayBuffer())).toEqual(pdf);

    // A reply keeps the id of the message it quotes.
    const reply = await prisma().message.findFirstOrThrow({ where: { externalId: messages[1]!.key.id! } });
    expect(reply.inReplyTo).toBe(first.key.id);

    // Groups, status, broadcast lists and channels are dropped by Baileys before decrypting
    // (shouldIgnoreJid) and leave nothing; a reaction is stored as a rejected event with the
    // reason; the protocol message is not a message.
    expect(socket.dropped.map((message) => message.key.id)).toEqual(messages.slice(8, 12).map((message) => message.key.id));
    const rejected = await eventually(async () => {
      const rows = await prisma().inboundEvent.findMany({ where: { sourceId, status: 'rejected' }, orderBy: { receivedAt: 'asc' } });
      expect(rows).toHaveLength(1);
      return rows;
    });
    expect(rejected.map((row) => row.reason)).toEqual(['reactions are not leads on this source']);
    for (const message of messages.slice(8, 12)) expect(await prisma().inboundEvent.count({ where: { sourceId, externalId: message.key.id! } })).toBe(0);
    expect(await prisma().inboundEvent.count({ where: { sourceId, externalId: messages[13]!.key.id! } })).toBe(0);
    expect(await prisma().contactIdentity.count({ where: { value: { contains: '5511911110000' } } })).toBe(0);
    expect((await source()).status.lastMessageAt).toBeTruthy();
  });

  it('makes a lead of a message that could not be decrypted, and puts the message in its place when WhatsApp sends it again', async () => {
    const socket = await connected();
    expect((await stack.api('PATCH', `/api/v1/sources/${sourceId}`, { autoReplyTemplate: 'acknowledgement' })).status).toBe(200);
    try {
      // A Click-to-WhatsApp ad message often comes first without its content, and a broken
      // signal session gives "Bad MAC": Baileys upserts a CIPHERTEXT stub and asks the phone again.
      const nina = person('5511955503030');
      const id = messageId();
      socket.receive([unreadableMessage({ from: nina, id, pushName: 'Nina', reason: 'Message absent from node' })]);
      const lead = await leadOf(nina);
      const received = async () => (await conversation(lead.id)).filter((message) => message.direction === 'in').map((message) => message.text);
      expect(lead.name).toBe('Nina');
      await eventually(async () => expect(await received()).toEqual([expect.stringMatching(/^Message could not be read yet/)]));
      const acknowledgements = () => prisma().message.count({ where: { leadId: lead.id, direction: 'out', automatic: true } });
      await eventually(async () => expect(await acknowledgements()).toBe(1));

      // The stub again (another failed retry), then the message itself, from the ad, twice.
      const ad = receivedMessage({
        from: nina,
        id,
        pushName: 'Nina',
        message: {
          extendedTextMessage: {
            text: 'Olá! Quero saber mais sobre energia solar.',
            contextInfo: {
              conversionSource: 'FB_Ads',
              conversionDelaySeconds: 9,
              entryPointConversionSource: 'ctwa_ad',
              entryPointConversionApp: 'instagram',
              externalAdReply: {
                title: 'Energia solar sem entrada',
                body: 'Economize até 95% na conta de luz',
                mediaType: proto.ContextInfo.ExternalAdReplyInfo.MediaType.IMAGE,
                thumbnailUrl: 'https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg',
                sourceType: 'ad',
                sourceId: '120210000000000001',
                sourceUrl: 'https://fb.me/2abcDEF',
                showAdAttribution: true,
                ctwaClid: 'Afc3nYt3zQ1xN9kGd',
              },
            },
          },
        },
      });
      socket.receive([unreadableMessage({ from: nina, id, pushName: 'Nina', reason: 'Bad MAC' })]);
      socket.receive([ad]);
      socket.receive([ad], 'append');
      await eventually(async () => expect(await received()).toEqual(['Olá! Quero saber mais sobre energia solar.']));
      await settle(stack);
      // One message, one lead, one contact, one acknowledgement.
      const messages = await prisma().message.findMany({ where: { externalId: id } });
      expect(messages).toHaveLength(1);
      expect(messages[0]!.leadId).toBe(lead.id);
      const identity = await prisma().contactIdentity.findFirstOrThrow({ where: { kind: 'whatsapp', value: nina } });
      expect(await prisma().lead.count({ where: { contactId: identity.contactId } })).toBe(1);
      expect(await acknowledgements()).toBe(1);

      // The ad is the lead's attribution, as a web form's utm_* fields are.
      const { body: shown } = await stack.api<{ customFields: Record<string, string> }>('GET', `/api/v1/leads/${lead.id}`);
      expect(shown.customFields).toMatchObject({
        ad_id: '120210000000000001',
        ad_source_type: 'ad',
        ad_title: 'Energia solar sem entrada',
        ad_body: 'Economize até 95% na conta de luz',
        ad_url: 'https://fb.me/2abcDEF',
        ad_app: 'instagram',
        ctwa_clid: 'Afc3nYt3zQ1xN9kGd',
        conversion_source: 'FB_Ads',
        entry_point: 'ctwa_ad',
      });

      // A stub that arrives after its message is a duplicate, not a new unreadable message.
      const late = messageId();
      socket.receive([receivedMessage({ from: nina, id: late, message: text('Pode me ligar?') })]);
      socket.receive([unreadableMessage({ from: nina, id: late, reason: 'No session' })]);
      await eventually(async () => expect(await received()).toEqual(['Olá! Quero saber mais sobre energia solar.', 'Pode me ligar?']));
      await settle(stack);
      expect(await received()).toEqual(['Olá! Quero saber mais sobre energia solar.', 'Pode me ligar?']);
    } finally {
      expect((await stack.api('PATCH', `/api/v1/sources/${sourceId}`, { autoReplyTemplate: null })).status).toBe(200);
    }
  });

  it('puts the readable message in place even when it comes right behind its unreadable stub', async () => {
    const socket = await connected();
    const otto = person('5511955506060');
    const id = messageId();
    socket.receive([unreadableMessage({ from: otto, id, pushName: 'Otto', reason: 'No session' })]);
    socket.receive([receivedMessage({ from: otto, id, pushName: 'Otto', message: text('Quanto custa a instalação?') })]);
    const lead = await leadOf(otto);
    await eventually(async () =>
      expect((await conversation(lead.id)).filter((message) => message.direction === 'in').map((message) => message.text)).toEqual(['Quanto custa a instalação?']),
    );
    expect(await prisma().message.count({ where: { externalId: id } })).toBe(1);
  });

  it('stores a message with a file before downloading it; the download retries, survives a restart, or fails visibly', async () => {
    const socket = await connected();
    const lia = person('5511955501234');
    const media = (path: string, data: Buffer) => ({ directPath: path, mediaKey: randomBytes(32), fileLength: data.length, url: `https://mmg.whatsapp.net${path}` });
    const tag = randomBytes(3).toString('hex');
    const [flakyPath, stalledPath, expiredPath] = ['flaky', 'stalled', 'expired'].map((name) => `/v/${name}-${tag}`) as [string, string, string];
    const photo = randomBytes(1200);
    const plan = Buffer.from('%PDF-1.4 planta baixa');
    const lost = randomBytes(300);
    fake.media.set(flakyPath, photo);
    fake.mediaFailures.set(flakyPath, 2);
    fake.media.set(stalledPath, plan);
    fake.mediaStalls.add(stalledPath);
    socket.receive([
      receivedMessage({ from: lia, pushName: 'Lia', message: { imageMessage: { caption: 'Foto da fachada', mimetype: 'image/jpeg', ...media(flakyPath, photo) } } }),
      receivedMessage({ from: lia, message: { documentMessage: { caption: 'A planta', fileName: 'planta.pdf', mimetype: 'application/pdf', ...media(stalledPath, plan) } } }),
      receivedMessage({ from: lia, message: { imageMessage: { caption: 'Foto antiga', mimetype: 'image/jpeg', ...media(expiredPath, lost) } } }),
    ]);

    // The lead and its messages exist whatever the downloads do.
    const lead = await leadOf(lia);
    const files = async () => {
      const thread = await conversation(lead.id);
      expect(thread.map((message) => message.text)).toEqual(['Foto da fachada', 'A planta', 'Foto antiga']);
      return thread.map((message) => message.attachments[0]!);
    };
    const [, stalled] = await eventually(async () => {
      const found = await files();
      // Two 5xx answers, then the file; a file gone from the CDN is tried three times, then failed with the reason.
      expect(found.map((file) => file.status)).toEqual(['stored', 'pending', 'failed']);
      return found;
    });
    const [flaky, , expired] = await files();
    expect(flaky).toMatchObject({ filename: expect.stringMatching(/^image-.*\.jpg$/), size: photo.length });
    expect(fake.downloads.filter((path) => path === flakyPath)).toHaveLength(3);
    const fetched = await fetch(`${stack.baseUrl}${flaky!.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(photo);
    expect(expired!.error).toBe('could not be downloaded: media not found (expired on the CDN) (gave up after 3 tries)');
    expect(fake.downloads.filter((path) => path === expiredPath)).toHaveLength(3);
    const notYet = await stack.api<{ type: string; detail: string }>('GET', stalled!.url);
    expect(notYet.status).toBe(409);
    expect(notYet.body.detail).toBe('the file is still being fetched from the channel');

    // The process stops in the middle of a download: the next one fetches the file from what was stored.
    await stack.restart(async () => {
      fake.mediaStalls.delete(stalledPath);
    });
    await connected();
    await eventually(async () => expect((await files())[1]).toMatchObject({ filename: 'planta.pdf', status: 'stored', size: plan.length }));
    const document = await fetch(`${stack.baseUrl}${stalled!.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(Buffer.from(await document.arrayBuffer())).toEqual(plan);
  });

  it('merges a contact known only by its LID into the phone\'s contact as soon as WhatsApp maps the LID', async () => {
    const socket = await connected();
    const form = await createWebform(stack, { autoReplyTemplate: null });
    expect((await postForm(stack, form, { nome: 'Lara Dias', telefone: '(11) 95550-9999', mensagem: 'Orçamento, por favor' })).status).toBe(202);
    await eventually(async () => expect(await prisma().contactIdentity.count({ where: { value: '+5511955509999' } })).toBe(1));
    const lid = `${Date.now()}77@lid`;
    socket.receive([receivedMessage({ from: lid, pushName: 'Lara', message: text('Oi, é a Lara') })]);
    const lidLead = await leadOf(lid);
    expect(lidLead.phone).toBeNull();
    const people = () => prisma().contact.count({ where: { mergedIntoId: null, identities: { some: { value: { in: ['+5511955509999', lid] } } } } });
    expect(await people()).toBe(2);

    // No new message from Lara: the mapping alone makes one person of the two.
    await socket.learnLid(lid, person('5511955509999'));
    await eventually(async () => expect(await people()).toBe(1));
    expect((await leadOf(lid)).phone).toBe('+5511955509999');
  });

  it('shows live that the person is typing, and when they stop, without a line in the timeline', async () => {
    const socket = await connected();
    const jid = person('5511955501234');
    socket.receive([receivedMessage({ from: jid, pushName: 'Tina', message: text('Oi, queria saber o preço') })]);
    const lead = await leadOf(jid);
    // WhatsApp tells a device about typing only in chats it subscribed to.
    await eventually(() => expect(socket.presenceSubscriptions).toContain(jid));

    const controller = new AbortController();
    const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { authorization: `Bearer ${stack.apiKey}` }, signal: controller.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const events: { kind: string; leadId: string; until?: string }[] = [];
    const pump = (async () => {
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data) events.push(JSON.parse(data.slice(6)) as (typeof events)[number]);
        }
      }
    })().catch(() => undefined);
    try {
      socket.presence(jid, 'composing');
      const typing = await eventually(() => {
        const event = events.find((e) => e.leadId === lead.id && e.kind === 'contact.typing');
        expect(event).toBeDefined();
        return event!;
      });
      expect(new Date(typing.until!).getTime()).toBeGreaterThan(Date.now());
      socket.presence(jid, 'paused');
      await eventually(() => expect(events.some((e) => e.leadId === lead.id && e.kind === 'contact.typing_stopped')).toBe(true));
    } finally {
      controller.abort();
      await pump;
    }
    const timeline = (await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`)).body.data;
    expect(timeline.map((activity) => activity.kind)).toContain('message.received');
    expect(timeline.filter((activity) => activity.kind.includes('typing'))).toEqual([]);
  });

  it('keeps one contact across channels: Brazil\'s ninth digit, and LIDs once the phone is known', async () => {
    const socket = await connected();
    const form = await createWebform(stack, { autoReplyTemplate: null });
    expect((await postForm(stack, form, { nome: 'Bruno Lima', telefone: '(11) 98765-1111', mensagem: 'Quero saber mais' })).status).toBe(202);
    await eventually(async () => expect(await prisma().contactIdentity.count({ where: { value: '+5511987651111' } })).toBe(1));

    // The same person on WhatsApp, whose id has no ninth digit.
    const old = person('551187651111');
    socket.receive([receivedMessage({ from: old, pushName: 'Bruno', message: text('Oi, sou eu do formulário') })]);
    const lead = await leadOf(old);
    expect(lead.phone).toBe('+5511987651111');
    expect(await prisma().contact.count({ where: { identities: { some: { value: { in: ['+5511987651111', old] } } }, mergedIntoId: null } })).toBe(1);
    expect((await conversation(lead.id)).map((message) => message.channel)).toEqual(['webform', 'whatsapp']);

    // A chat addressed by LID, with the phone alongside: one contact with both ids.
    const carla = person('5511966667777');
    const carlaLid = '187654321098765@lid';
    socket.receive([receivedMessage({ from: carlaLid, fromAlt: carla, pushName: 'Carla', message: text('Oi, vi o anúncio') })]);
    const carlaLead = await leadOf(carla);
    expect(carlaLead.phone).toBe('+5511966667777');
    await eventually(async () => expect((await leadOf(carlaLid)).id).toBe(carlaLead.id));

    // LID only, but WhatsApp told the device whose it is (lid-mapping.update, stored with the keys).
    const dani = person('5511944443333');
    const daniLid = '99887766554433@lid';
    await socket.learnLid(daniLid, dani);
    socket.receive([receivedMessage({ from: daniLid, pushName: 'Dani', message: text('Tem financiamento?') })]);
    const daniLead = await leadOf(dani);
    expect(daniLead).toMatchObject({ phone: '+5511944443333', name: 'Dani' });
    expect((await leadOf(daniLid)).id).toBe(daniLead.id);
  });

  it('learns LIDs and contacts from history sync, and never turns history into leads or replies', async () => {
    const socket = await connected();
    const olga = person('5511955504040');
    const olgaLid = '66554433221100@lid';
    const old = new Date(Date.now() - 3 * 24 * 3600_000);
    const history = [
      receivedMessage({ from: olga, pushName: 'Olga', message: text('Oi, ainda tem aquela promoção?'), at: old }),
      receivedMessage({ from: person('5511955505050'), pushName: 'Paulo', message: text('Obrigado pelo atendimento'), at: old }),
      receivedMessage({ from: olga, fromMe: true, message: text('Tem sim, Olga!'), at: old }),
    ];
    const sentBefore = fake.sent.length;
    await socket.history({ messages: history, lidPnMappings: [{ lid: olgaLid, pn: olga }], syncType: proto.HistorySync.HistorySyncType.RECENT });
    await settle(stack);
    for (const message of history) expect(await prisma().inboundEvent.count({ where: { sourceId, externalId: { startsWith: message.key.id! } } })).toBe(0);
    expect(await prisma().contactIdentity.count({ where: { value: { in: [olga, person('5511955505050'), '+5511955504040', '+5511955505050'] } } })).toBe(0);
    expect(fake.sent.length).toBe(sentBefore);

    // What history taught Baileys: a chat addressed by the LID alone reaches the phone's contact.
    socket.receive([receivedMessage({ from: olgaLid, pushName: 'Olga', message: text('Oi de novo!') })]);
    const lead = await leadOf(olga);
    expect(lead).toMatchObject({ phone: '+5511955504040', whatsappId: olga });
    expect((await conversation(lead.id)).filter((message) => message.direction === 'in').map((message) => message.text)).toEqual(['Oi de novo!']);
  });

  it('makes one contact of a LID-only chat and the phone\'s contact when history or contact sync pairs them, with the merge on the timeline and no history lead', async () => {
    const socket = await connected();
    const form = await createWebform(stack, { autoReplyTemplate: null });
    const people = (ids: string[]) => prisma().contact.count({ where: { mergedIntoId: null, identities: { some: { value: { in: ids } } } } });
    const cases = [
      // A history chunk's chat addressed by LID, with its phone (processHistoryMessage: id, lid, phoneNumber).
      { name: 'Rita Prado', phone: '5511955506060', lid: `${Date.now()}61@lid`, how: 'history chat' },
      // The phone's address book (contactAction: id is the phone, lid beside it) as contacts.upsert.
      { name: 'Saulo Melo', phone: '5511955507070', lid: `${Date.now()}71@lid`, how: 'contact sync' },
      // The pairs a history chunk carries by themselves (phoneNumberToLidMappings).
      { name: 'Tereza Luz', phone: '5511955508080', lid: `${Date.now()}81@lid`, how: 'history pairs' },
    ];
    for (const person_ of cases) {
      expect((await postForm(stack, form, { nome: person_.name, telefone: `+${person_.phone}`, mensagem: 'Quero um orçamento' })).status).toBe(202);
      socket.receive([receivedMessage({ from: person_.lid, pushName: person_.name.split(' ')[0]!, message: text('Oi, vim pelo WhatsApp') })]);
      await leadOf(person_.lid);
      await eventually(async () => expect(await people([`+${person_.phone}`, person_.lid])).toBe(2));
    }
    const [rita, saulo, tereza] = cases as [(typeof cases)[0], (typeof cases)[0], (typeof cases)[0]];
    const sentBefore = fake.sent.length;
    const old = new Date(Date.now() - 5 * 24 * 3600_000);
    const history = [
      receivedMessage({ from: rita.lid, pushName: 'Rita', message: text('Mensagem antiga da Rita'), at: old }),
      receivedMessage({ from: rita.lid, fromMe: true, message: text('Resposta antiga'), at: old }),
    ];
    await socket.history({
      messages: history,
      contacts: [{ id: rita.lid, name: 'Rita Prado', lid: rita.lid, phoneNumber: person(rita.phone) }],
      syncType: proto.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP,
    });
    socket.contacts([{ id: person(saulo.phone), name: 'Saulo Melo', lid: saulo.lid, phoneNumber: person(saulo.phone) }]);
    await socket.history({ messages: [], lidPnMappings: [{ lid: tereza.lid, pn: person(tereza.phone) }], syncType: proto.HistorySync.HistorySyncType.RECENT });

    for (const person_ of cases) {
      await eventually(async () => expect(await people([`+${person_.phone}`, person_.lid])).toBe(1));
      const contact = await prisma().contact.findFirstOrThrow({ where: { mergedIntoId: null, identities: { some: { value: person_.lid } } }, include: { identities: true, leads: true } });
      expect(contact.identities.map((identity) => identity.value)).toEqual(expect.arrayContaining([`+${person_.phone}`, person_.lid]));
      // Both conversations (the form's and the LID chat's) say the two became one, and why.
      expect(contact.leads).toHaveLength(2);
      for (const lead of contact.leads) {
        const timeline = (await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`)).body.data;
        expect(timeline.map((activity) => activity.kind)).toContain('contact.merged');
      }
    }
    await settle(stack);
    // History is never a lead, a message or a reply.
    for (const message of history) expect(await prisma().inboundEvent.count({ where: { sourceId, externalId: { startsWith: message.key.id! } } })).toBe(0);
    expect(await prisma().message.count({ where: { text: { in: ['Mensagem antiga da Rita', 'Resposta antiga'] } } })).toBe(0);
    expect(fake.sent.length).toBe(sentBefore);
  });

  it('stores a message delivered twice once, and an offline batch (append) once and in order after a reconnect', async () => {
    const socket = await connected();
    const eva = person('5511933332222');
    const hello = receivedMessage({ from: eva, pushName: 'Eva', message: text('Bom dia') });
    socket.receive([hello], 'notify');
    socket.receive([hello], 'append');
    const lead = await leadOf(eva);

    // The connection drops; what arrived meanwhile comes as one "append" batch on the next socket.
    socket.close(disconnect(DisconnectCode.connectionClosed, 'Connection Lost'));
    await eventually(async () => expect(fake.live).toBeDefined());
    const next = await connected();
    expect(next).not.toBe(socket);
    const base = Date.now() - 60_000;
    const offline = ['primeira', 'segunda', 'terceira'].map((words) => receivedMessage({ from: eva, message: text(words), at: new Date(base) }));
    next.receive([hello, ...offline], 'append');
    await eventually(async () => expect((await conversation(lead.id)).map((message) => message.text)).toEqual(['Bom dia', 'primeira', 'segunda', 'terceira']));
    expect(await prisma().inboundEvent.count({ where: { sourceId, externalId: hello.key.id! } })).toBe(1);
  });

  it('records what the business sends from its phone as sent messages of the conversation, never as leads', async () => {
    const socket = await connected();
    const fabio = person('5511922221111');
    socket.receive([receivedMessage({ from: fabio, pushName: 'Fábio', message: text('Qual o prazo de instalação?') })]);
    const lead = await leadOf(fabio);
    socket.receive([receivedMessage({ from: fabio, fromMe: true, pushName: 'Acme Solar', message: text('Cerca de 15 dias, Fábio!') })]);
    await eventually(async () =>
      expect((await conversation(lead.id)).map((message) => [message.direction, message.status, message.text])).toEqual([
        ['in', 'received', 'Qual o prazo de instalação?'],
        ['out', 'sent', 'Cerca de 15 dias, Fábio!'],
      ]),
    );
    expect((await stack.api<Lead>('GET', `/api/v1/leads/${lead.id}`)).body.name).toBe('Fábio');

    const stranger = person('5511900009999');
    const note = receivedMessage({ from: stranger, fromMe: true, message: text('Oi, tudo bem?') });
    socket.receive([note]);
    await eventually(async () => expect((await prisma().inboundEvent.findFirst({ where: { externalId: note.key.id! } }))?.status).toBe('processed'));
    expect(await prisma().contactIdentity.count({ where: { value: stranger } })).toBe(0);
    // Its receipts are about nothing stored here: looked for again briefly, then set aside, not failed.
    socket.receipt(stranger, note.key.id!, proto.WebMessageInfo.Status.DELIVERY_ACK);
    await eventually(async () =>
      expect(await prisma().inboundEvent.findFirst({ where: { externalId: `${note.key.id}:status:delivered` } })).toMatchObject({ status: 'processed', attempts: 2 }),
    );
  });

  it('sends replies with typing first to the id WhatsApp reports, and applies receipts', async () => {
    const socket = await connected();
    const gabi = person('551187650000');
    fake.accounts.set('551187650000', gabi);
    socket.receive([receivedMessage({ from: gabi, pushName: 'Gabi', message: text('Vocês atendem Campinas?') })]);
    const lead = await leadOf(gabi);
    const before = fake.sent.length;

    const queued = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Atendemos sim, Gabi!' });
    expect(queued.status).toBe(202);
    const message = async () => (await stack.api<MessageView & { status: string }>('GET', `/api/v1/messages/${queued.body.messageId}`)).body;
    await eventually(async () => expect((await message()).status).toBe('sent'));
    const sent = fake.sent.slice(before);
    expect(sent.map(({ jid, content }) => ({ jid, content }))).toEqual([{ jid: gabi, content: { text: 'Atendemos sim, Gabi!' } }]);
    expect(socket.presences.filter((presence) => presence.jid === gabi).map((presence) => presence.type)).toEqual(['composing', 'paused']);
    expect(socket.numberChecks.at(-1)).toEqual(['551187650000']);
    const stored = await prisma().message.findUniqueOrThrow({ where: { id: queued.body.messageId } });
    expect(stored.externalId).toBe(sent[0]!.id);

    socket.receipt(gabi, sent[0]!.id, proto.WebMessageInfo.Status.DELIVERY_ACK);
    await eventually(async () => expect((await message()).status).toBe('delivered'));
    socket.receipt(gabi, sent[0]!.id, proto.WebMessageInfo.Status.READ);
    await eventually(async () => expect((await message()).status).toBe('read'));
    // A late "server ack" never moves it back.
    socket.receipt(gabi, sent[0]!.id, proto.WebMessageInfo.Status.SERVER_ACK);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await message()).status).toBe('read');

    // Files: an image and a document carry the text as their caption; audio cannot, so the text follows it.
    const adapter = stack.gateway.deps.registry.forSourceKind('whatsapp')!;
    const connection = { id: sourceId, publicUrl: stack.baseUrl, settings: {}, secrets: {} };
    const image = randomBytes(300);
    const pdf = Buffer.from('%PDF-1.4 proposta');
    const audio = randomBytes(200);
    const mark = fake.sent.length;
    await adapter.send!(connection, { id: 'msg_files_1', to: gabi, text: 'Segue a proposta', attachments: [{ filename: 'telhado.jpg', contentType: 'image/jpeg', data: image }] });
    await adapter.send!(connection, { id: 'msg_files_2', to: gabi, text: 'E o contrato', attachments: [{ filename: 'contrato.pdf', contentType: 'application/pdf', data: pdf }] });
    const withAudio = await adapter.send!(connection, { id: 'msg_files_3', to: gabi, text: 'Ouça o áudio', attachments: [{ filename: 'explicacao.ogg', contentType: 'audio/ogg', data: audio }] });
    expect(fake.sent.slice(mark).map(({ content }) => content)).toEqual([
      { image, mimetype: 'image/jpeg', caption: 'Segue a proposta' },
      { document: pdf, mimetype: 'application/pdf', fileName: 'contrato.pdf', caption: 'E o contrato' },
      { audio, mimetype: 'audio/ogg' },
      { text: 'Ouça o áudio' },
    ]);
    expect(withAudio.externalId).toBe(fake.sent.at(-1)!.id);
  });

  it('sends one person no more automatic messages a day than the number allows: the next sequence step waits, replies do not', async () => {
    const socket = await connected();
    const capped = await stack.api<{ automaticPerPersonPerDay: number }>('PATCH', `/api/v1/sources/${sourceId}`, { automaticPerPersonPerDay: 2 });
    expect(capped.status).toBe(200);
    expect(capped.body.automaticPerPersonPerDay).toBe(2);
    const invalid = await stack.api<{ errors: { path: string }[] }>('PATCH', `/api/v1/sources/${sourceId}`, { automaticPerPersonPerDay: 0 });
    expect(invalid.status).toBe(422);
    expect(invalid.body.errors.map((error) => error.path)).toEqual(['automaticPerPersonPerDay']);

    const created = await stack.api<{ id: string }>('POST', '/api/v1/sequences', {
      name: 'WhatsApp nurture',
      steps: [
        { waitMinutes: 0, templateId: 'product_introduction' },
        { waitMinutes: 0, templateId: 'follow_up_reminder' },
        { waitMinutes: 0, templateId: 'thank_you' },
      ],
    });
    expect(created.status).toBe(201);
    const iara = person('5511944445555');
    fake.accounts.set('5511944445555', iara);
    socket.receive([receivedMessage({ from: iara, pushName: 'Iara', message: text('Quero saber de energia solar') })]);
    const lead = await leadOf(iara);
    const sentTo = () => fake.sent.filter(({ jid }) => jid === iara);
    const enrolment = async () =>
      (await stack.api<{ data: { status: string; nextStep: number; nextStepAt: string | null }[] }>('GET', `/api/v1/leads/${lead.id}/sequences`)).body.data[0]!;
    const enrolledAt = Date.now();
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId: created.body.id })).status).toBe(201);

    // Two steps go; the third waits until a day after the first of them.
    await eventually(async () => {
      expect(sentTo()).toHaveLength(2);
      const waiting = await enrolment();
      expect(waiting).toMatchObject({ status: 'active', nextStep: 2 });
      expect(Date.parse(waiting.nextStepAt!)).toBeGreaterThanOrEqual(enrolledAt + 24 * 3600_000);
    });
    // A rep's reply is no automatic message: it goes at once.
    const reply = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Oi Iara, posso ligar amanhã?' });
    expect(reply.status).toBe(202);
    await eventually(() => expect(sentTo()).toHaveLength(3));
    // A round of the sequences after the reply: the third step still waits.
    await settle(stack);
    expect(sentTo().map(({ content }) => (content as { text: string }).text)).toEqual([
      expect.stringContaining('Iara'),
      expect.any(String),
      'Oi Iara, posso ligar amanhã?',
    ]);

    // A day later (the conversation's past moved back by one) the last step goes.
    await prisma().$executeRaw`UPDATE messages SET "createdAt" = "createdAt" - interval '1 day' WHERE "leadId" = ${lead.id}`;
    await prisma().$executeRaw`UPDATE sequence_enrollments SET "nextStepAt" = "nextStepAt" - interval '1 day' WHERE "leadId" = ${lead.id}`;
    await eventually(async () => {
      expect(sentTo()).toHaveLength(4);
      expect((await enrolment()).status).toBe('completed');
    });
    expect((sentTo()[3]!.content as { text: string }).text).toContain('Thank you very much');
    expect((await stack.api('PATCH', `/api/v1/sources/${sourceId}`, { automaticPerPersonPerDay: 3 })).status).toBe(200);
  });

  it('never nurtures on WhatsApp someone who has not written to the number: the step is skipped and says why', async () => {
    await connected();
    const form = await createWebform(stack, { name: 'Site', autoReplyTemplate: null });
    expect((await postForm(stack, form, { name: 'Rui Form', phone: '(21) 97654-3210' })).status).toBe(202);
    const leadId = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent('Rui Form')}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
    const created = await stack.api<{ id: string }>('POST', '/api/v1/sequences', {
      name: 'WhatsApp only',
      steps: [{ waitMinutes: 0, templateId: 'product_introduction', channel: 'whatsapp' }],
    });
    expect((await stack.api('POST', `/api/v1/leads/${leadId}/sequences`, { sequenceId: created.body.id })).status).toBe(201);
    const skipped = await eventually(async () => {
      const { body } = await stack.api<{ data: { kind: string; data: { reason?: string } }[] }>('GET', `/api/v1/leads/${leadId}/activities`);
      const found = body.data.find((activity) => activity.kind === 'sequence.step_skipped');
      expect(found).toBeDefined();
      return found!;
    });
    expect(skipped.data.reason).toBe('the contact cannot be reached on whatsapp from this workspace');
    expect(fake.sent.some(({ jid }) => jid.startsWith('5521976543210'))).toBe(false);
    expect((await conversation(leadId)).filter((message) => message.direction === 'out')).toEqual([]);
  });

  it('marks a send that WhatsApp never acknowledges failed, without sending it twice; a late receipt moves it on', async () => {
    const socket = await connected();
    const kai = person('5511955507777');
    fake.accounts.set('5511955507777', kai);
    socket.receive([receivedMessage({ from: kai, pushName: 'Kai', message: text('Ainda tem vaga para visita?') })]);
    const lead = await leadOf(kai);
    socket.withholdAcks = true;
    const queued = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Temos sim, Kai!' });
    const message = async () => (await stack.api<MessageView>('GET', `/api/v1/messages/${queued.body.messageId}`)).body;
    const failed = await eventually(async () => {
      const found = await message();
      expect(found.status).toBe('failed');
      return found;
    });
    expect(failed).toMatchObject({ errorCode: 'no_ack', error: 'WhatsApp did not acknowledge the message within 1 s; it was most likely not sent' });
    expect(fake.sent.filter(({ jid }) => jid === kai)).toHaveLength(1);

    // WhatsApp had it after all: the late ack and the receipt bring it back.
    socket.withholdAcks = false;
    socket.releaseAcks();
    socket.receipt(kai, fake.sent.filter(({ jid }) => jid === kai)[0]!.id, proto.WebMessageInfo.Status.DELIVERY_ACK);
    await eventually(async () => expect(await message()).toMatchObject({ status: 'delivered' }));
    expect((await message()).errorCode).toBeUndefined();
  });

  it('fails a message to a number that is not on WhatsApp at once, with the reason', async () => {
    const socket = await connected();
    const gone = person('5511911113333');
    socket.receive([receivedMessage({ from: gone, pushName: 'Hugo', message: text('Oi') })]);
    const lead = await leadOf(gone);
    const queued = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Olá Hugo' });
    const failed = await eventually(async () => {
      const { body } = await stack.api<MessageView>('GET', `/api/v1/messages/${queued.body.messageId}`);
      expect(body.status).toBe('failed');
      return body;
    });
    expect(failed).toMatchObject({ errorCode: 'not_on_whatsapp', error: '+5511911113333 is not on WhatsApp' });
    const row = await prisma().message.findUniqueOrThrow({ where: { id: queued.body.messageId } });
    expect(row.attempts).toBe(1);
    expect(fake.sent.some(({ jid }) => jid === gone)).toBe(false);
  });

  it('answers Baileys\' retry requests from its own tables, and reconnects a socket that went silent', async () => {
    const socket = await connected();
    const received = await prisma().message.findFirstOrThrow({ where: { sourceId, direction: 'in', text: 'Bom dia' } });
    expect(await socket.options.getMessage({ remoteJid: person('5511933332222'), id: received.externalId!, fromMe: false })).toMatchObject({ conversation: 'Bom dia' });
    expect(await socket.options.getMessage({ remoteJid: person('5511933332222'), id: 'UNKNOWN', fromMe: true })).toBeUndefined();

    socket.silent = true;
    await eventually(async () => expect(socket.ended).toBe(true), 5_000);
    const next = await connected();
    expect(next).not.toBe(socket);
  });

  it('keeps its link across a restart from the database alone, with credentials that match its keys', async () => {
    const before = await connected();
    // A photo sent before the restart: a retry after it must get the photo again, not its caption.
    const rui = person('5511955508080');
    fake.accounts.set('5511955508080', rui);
    const adapter = stack.gateway.deps.registry.forSourceKind('whatsapp')!;
    const photo = await adapter.send!({ id: sourceId, publicUrl: stack.baseUrl, settings: {}, secrets: {} }, {
      id: 'msg_before_restart',
      to: rui,
      text: 'Planta do sistema',
      attachments: [{ filename: 'planta.jpg', contentType: 'image/jpeg', data: randomBytes(200) }],
    });
    const nextPreKeyId = await before.uploadPreKeysThenCrash(5);
    const sockets = fake.sockets.length;
    await stack.restart();
    const socket = await eventually(() => {
      expect(fake.sockets.length).toBeGreaterThan(sockets);
      return fake.sockets.at(-1)!;
    });
    await connected();
    expect(socket.qrs).toEqual([]);
    expect(socket.options.auth.creds.me?.id).toBe(`${business}:12@s.whatsapp.net`);
    expect(await socket.options.getMessage({ remoteJid: rui, id: photo.externalId, fromMe: true })).toMatchObject({ imageMessage: { caption: 'Planta do sistema', mimetype: 'image/jpeg' } });
    // The credentials were written with the pre-keys: the next id is past the last stored key.
    expect(socket.options.auth.creds.nextPreKeyId).toBe(nextPreKeyId);
    expect(Object.keys(await socket.options.auth.keys.get('pre-key', [String(nextPreKeyId - 1)]))).toEqual([String(nextPreKeyId - 1)]);
    // The LID map Baileys stored with the keys survives too.
    expect(await socket.signalRepository.lidMapping.getPNForLID('99887766554433@lid')).toBe(person('5511944443333'));
    socket.receive([receivedMessage({ from: person('5511977776666'), pushName: 'Iris', message: text('Depois do reinício') })]);
    await leadOf(person('5511977776666'));
  });

  it('stops when the phone logs it out: marked, announced, credentials gone, no retries; a relink starts over', async () => {
    const hook = await stack.api('POST', '/api/v1/webhooks', { url: 'https://203.0.113.10/leadgate', events: ['source.logged_out'] });
    expect(hook.status).toBe(201);
    const socket = await connected();
    socket.close(disconnect(DisconnectCode.loggedOut, 'Intentional Logout'));
    await eventually(async () => expect((await source()).status).toMatchObject({ state: 'logged_out', lastError: 'the phone logged the gateway out (Linked devices)' }));
    await eventually(async () => expect(await prisma().sourceSecret.count({ where: { sourceId } })).toBe(0));
    const delivery = await prisma().webhookDelivery.findFirstOrThrow({ where: { event: 'source.logged_out' } });
    expect(delivery.payload).toMatchObject({ event: 'source.logged_out', data: { sourceId, status: { state: 'logged_out' } } });

    const sockets = fake.sockets.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(fake.sockets.length).toBe(sockets);
    expect((await source()).status.state).toBe('logged_out');

    const relinked = await stack.api<SourceView>('PATCH', `/api/v1/sources/${sourceId}`, { relink: true });
    expect(relinked.status).toBe(200);
    await eventually(async () => expect((await source()).status.state).toBe('pairing'));
    const qr = () => fetch(`${stack.baseUrl}/api/v1/sources/${sourceId}/qr`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    await eventually(async () => expect((await qr()).status).toBe(200));
    await live().link(business);
    await connected();
  });
});

describe('a WhatsApp number when WhatsApp closes its connection, reason by reason', () => {
  const fake = new FakeWhatsApp();
  let stack: Stack;

  beforeAll(async () => {
    // Webhooks to a documentation address (203.0.113.0/24) record what would be announced; nothing answers there.
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_WEBHOOKS_ALLOW_PRIVATE: 'true' }, adapterOptions: { whatsapp: { driver: fake, timing } } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const status = async (id: string) => (await stack.api<SourceView>('GET', `/api/v1/sources/${id}`)).body.status;
  /** A new number, linked and connected; the test deletes it when done, so `fake.live` is always its socket. */
  async function linked(name: string): Promise<{ id: string; socket: FakeWhatsAppSocket }> {
    const sockets = fake.sockets.length;
    const { body } = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name, autoReplyTemplate: null });
    await eventually(() => expect(fake.sockets.slice(sockets).some((socket) => socket.qrs.length > 0)).toBe(true));
    await fake.live!.link(business);
    const socket = await eventually(async () => {
      expect(fake.live?.opened).toBe(true);
      expect((await status(body.id)).state).toBe('connected');
      return fake.live!;
    });
    return { id: body.id, socket };
  }
  const remove = async (id: string) => expect((await stack.api('DELETE', `/api/v1/sources/${id}`)).status).toBe(204);
  const secrets = (id: string) => stack.gateway.deps.db.prisma.sourceSecret.count({ where: { sourceId: id } });
  /** No new socket for a while: the number stays stopped. */
  async function staysStopped(): Promise<void> {
    const sockets = fake.sockets.length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(fake.sockets.length).toBe(sockets);
  }

  it('stops for good when WhatsApp bans or restricts the account (403, 402, 406), saying why', async () => {
    for (const [code, words] of [
      [DisconnectCode.forbidden, 'Connection Failure'],
      [DisconnectCode.paymentRequired, 'Connection Failure'],
      [DisconnectCode.notAcceptable, 'Connection Failure'],
    ] as const) {
      const { id, socket } = await linked(`Banned ${code}`);
      socket.close(disconnect(code, words));
      await eventually(async () =>
        expect(await status(id)).toMatchObject({ state: 'error', lastError: `WhatsApp refused this account (${code}, banned or restricted): ${words}` }),
      );
      await staysStopped();
      expect(await secrets(id)).toBe(0);
      await remove(id);
    }
  });

  it('stops when another session replaces it (440), keeps the credentials, and a relink connects with them', async () => {
    const { id, socket } = await linked('Replaced');
    socket.close(disconnect(DisconnectCode.connectionReplaced, 'Stream Errored (conflict)'));
    await eventually(async () => expect(await status(id)).toMatchObject({ state: 'error', lastError: 'another WhatsApp Web session with this link took over (440, connection replaced)' }));
    await staysStopped();
    expect(await secrets(id)).toBeGreaterThan(0);
    expect((await stack.api('PATCH', `/api/v1/sources/${id}`, { relink: true })).status).toBe(200);
    const again = await eventually(async () => {
      expect(fake.live?.opened).toBe(true);
      expect((await status(id)).state).toBe('connected');
      return fake.live!;
    });
    expect(again).not.toBe(socket);
    expect(again.qrs).toEqual([]);
    await remove(id);
  });

  it('reconnects at once when WhatsApp asks for a restart (515)', async () => {
    const { id, socket } = await linked('Restart');
    const started = Date.now();
    socket.close(disconnect(DisconnectCode.restartRequired, 'Stream Errored (restart required)'));
    await eventually(() => expect(fake.live && fake.live !== socket && fake.live.opened).toBe(true));
    expect(Date.now() - started).toBeLessThan(timing.retryBaseMs * 4);
    expect(fake.live!.qrs).toEqual([]);
    await remove(id);
  });

  it('links again with a new QR code when WhatsApp no longer accepts the stored session (411, or 500 three times in a row)', async () => {
    const hooks = async () => stack.gateway.deps.db.prisma.webhookDelivery.count({ where: { event: 'source.logged_out' } });
    expect((await stack.api('POST', '/api/v1/webhooks', { url: 'https://203.0.113.10/leadgate', events: ['source.logged_out'] })).status).toBe(201);
    const { id, socket } = await linked('Mismatch');
    socket.close(disconnect(DisconnectCode.multideviceMismatch, 'Multi-device beta not joined'));
    const pairing = await eventually(async () => {
      expect(await status(id)).toMatchObject({ state: 'pairing', lastError: 'WhatsApp no longer accepts this linked device (411): Multi-device beta not joined' });
      expect(fake.live?.qrs.length).toBeGreaterThan(0);
      return fake.live!;
    });
    expect(await secrets(id)).toBe(0);
    expect(await hooks()).toBe(1);
    await pairing.link(business);
    await eventually(async () => expect((await status(id)).state).toBe('connected'));

    // One 500 is any WebSocket error Baileys cannot name: reconnected with the same credentials.
    const before = fake.live!;
    before.close(disconnect(DisconnectCode.badSession, 'Stream Errored (unknown)'));
    await eventually(async () => {
      expect(fake.live && fake.live !== before && fake.live.opened).toBe(true);
      expect((await status(id)).state).toBe('connected');
    });
    expect(fake.live!.qrs).toEqual([]);
    // Three in a row, never open between them: the session is what fails.
    fake.closesOnStart.push(disconnect(DisconnectCode.badSession, 'Stream Errored (unknown)'), disconnect(DisconnectCode.badSession, 'Stream Errored (unknown)'));
    fake.live!.close(disconnect(DisconnectCode.badSession, 'Stream Errored (unknown)'));
    await eventually(async () => {
      expect(await status(id)).toMatchObject({ state: 'pairing', lastError: 'WhatsApp rejected the stored session 3 times in a row (500): Stream Errored (unknown)' });
      expect(fake.live?.qrs.length).toBeGreaterThan(0);
    });
    expect(await secrets(id)).toBe(0);
    await remove(id);
  });

  it('learns the current WhatsApp Web version when WhatsApp calls its own outdated (405), and keeps the configured one when it cannot', async () => {
    const { id, socket } = await linked('Outdated');
    expect(socket.options.version).toBeUndefined();
    // web.whatsapp.com cannot be reached: the configured version stays, and the status says what to do.
    fake.webVersion = null;
    socket.close(disconnect(DisconnectCode.clientOutdated, 'Connection Failure'));
    await eventually(async () =>
      expect(await status(id)).toMatchObject({
        lastError: 'WhatsApp refused the WhatsApp Web version (the library default) as outdated (405): Connection Failure',
        detail: expect.stringContaining('set LEADGATE_WHATSAPP_WEB_VERSION'),
      }),
    );
    expect(fake.versionRequests).toBe(1);
    await eventually(async () => expect((await status(id)).state).toBe('connected'));
    expect(fake.live!.options.version).toBeUndefined();

    // It can: the next socket presents the current version, at once.
    fake.webVersion = [2, 3000, 1031234567];
    fake.live!.close(disconnect(DisconnectCode.clientOutdated, 'Connection Failure'));
    await eventually(async () => {
      expect(fake.live?.options.version).toEqual([2, 3000, 1031234567]);
      expect((await status(id)).state).toBe('connected');
    });
    expect(fake.versionRequests).toBe(2);
    await remove(id);
  });
});

describe('a WhatsApp number shared by two gateway processes on PostgreSQL', () => {
  const fake = new FakeWhatsApp();
  let stack: Stack;
  let second: Gateway | undefined;

  beforeAll(async () => {
    stack = await startStack({ db: 'postgres', queue: 'bull', env: { LEADGATE_CONNECTION_LEASE_MS: '1500' }, adapterOptions: { whatsapp: { driver: fake, timing } } });
  });
  afterAll(async () => {
    await second?.close();
    await stack?.close();
  });

  it('is connected by one of them at a time, and the other takes over when the first stops', async () => {
    const { body: created } = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Shared', autoReplyTemplate: null });
    const holder = async () => (await (second ?? stack.gateway).deps.db.prisma.lease.findUnique({ where: { key: `whatsapp:${created.id}` } }))?.holder;
    await eventually(async () => expect(await holder()).toBe(stack.gateway.deps.holderId));
    await eventually(() => expect(fake.live?.qrs.length).toBe(1));
    await fake.live!.link(business);
    await eventually(() => expect(fake.live?.opened).toBe(true));

    second = await Gateway.create(loadConfig(stack.env), {
      logger: pino({ level: 'silent' }),
      queuePrefix: `lgtest-second-${Date.now()}`,
      adapterOptions: { whatsapp: { driver: fake, timing } },
    });
    await second.startWorkers();
    const sockets = fake.sockets.length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await holder()).toBe(stack.gateway.deps.holderId);
    expect(fake.sockets.length).toBe(sockets);

    await stack.gateway.close();
    await eventually(async () => expect(await holder()).toBe(second!.deps.holderId), 10_000);
    // The second process links from the credentials the first stored: no QR code.
    await eventually(() => expect(fake.live?.opened).toBe(true));
    expect(fake.live!.qrs).toEqual([]);
    const id = messageId();
    fake.live!.receive([receivedMessage({ id, from: person('5511955554444'), pushName: 'Júlia', message: text('Oi') })]);
    await eventually(async () => expect(await second!.deps.db.prisma.message.count({ where: { externalId: id } })).toBe(1));
  });
});

describe('sends of a WhatsApp number shared by two gateway processes on PostgreSQL and Bull', () => {
  const fake = new FakeWhatsApp();
  let stack: Stack;
  let second: Gateway | undefined;

  beforeAll(async () => {
    stack = await startStack({ db: 'postgres', queue: 'bull', env: { LEADGATE_SEND_OWNER_WAIT_MS: '4000' }, adapterOptions: { whatsapp: { driver: fake, timing } } });
  });
  afterAll(async () => {
    await second?.close();
    await stack?.close();
  });

  it('go to the process that holds the number without spending attempts, and fail only when nobody holds it for long', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const { body: shared } = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Shared', autoReplyTemplate: null });
    await eventually(() => expect(fake.live?.qrs.length).toBe(1));
    await fake.live!.link(business);
    await eventually(() => expect(fake.live?.opened).toBe(true));
    // The second process shares the queues: it takes send jobs of a number it does not hold.
    second = await Gateway.create(loadConfig(stack.env), {
      logger: pino({ level: 'silent' }),
      queuePrefix: stack.queuePrefix,
      adapterOptions: { whatsapp: { driver: fake, timing } },
    });
    await second.startWorkers();
    const holder = await prisma.lease.findUniqueOrThrow({ where: { key: `whatsapp:${shared.id}` } });
    expect(holder.holder).toBe(stack.gateway.deps.holderId);

    const mia = person('5511955506666');
    fake.accounts.set('5511955506666', mia);
    fake.live!.receive([receivedMessage({ from: mia, pushName: 'Mia', message: text('Quero instalar placas') })]);
    const lead = await eventually(async () => prisma.lead.findFirstOrThrow({ where: { contact: { identities: { some: { value: mia } } } } }));
    const queueDirectly = async (sourceId: string, words: string) => {
      const id = `msg_${randomBytes(8).toString('hex')}`;
      await prisma.message.create({
        data: { id, workspaceId: lead.workspaceId, leadId: lead.id, sourceId, direction: 'out', channel: 'whatsapp', status: 'queued', text: words, toAddress: mia, idempotencyKey: id },
      });
      return id;
    };

    // The process without the number gets the job: back to the queue, the attempt not counted.
    const routed = await queueDirectly(shared.id, 'Vamos agendar uma visita');
    await second.deps.outbound.dispatchDue();
    expect(await prisma.message.findUniqueOrThrow({ where: { id: routed } })).toMatchObject({ status: 'queued', attempts: 0, errorCode: 'whatsapp_not_connected' });
    await eventually(async () => expect(await prisma.message.findUniqueOrThrow({ where: { id: routed } })).toMatchObject({ status: 'sent', attempts: 1, errorCode: null }));

    // Through the API, whichever process the jobs reach: each sent once, on its first attempt.
    const ids: string[] = [];
    for (const words of ['Um', 'Dois', 'Três', 'Quatro']) {
      ids.push((await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: words })).body.messageId);
    }
    await eventually(async () => {
      const rows = await prisma.message.findMany({ where: { id: { in: ids } } });
      expect(rows.map((row) => [row.status, row.attempts])).toEqual(Array(4).fill(['sent', 1]));
    });
    expect(fake.sent.filter(({ jid }) => jid === mia).map(({ content }) => content)).toEqual(
      ['Vamos agendar uma visita', 'Um', 'Dois', 'Três', 'Quatro'].map((words) => ({ text: words })),
    );

    // A number no process has connected: the send waits, saying why, then fails with the reason.
    const { body: unlinked } = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Never linked', autoReplyTemplate: null });
    const stuck = await queueDirectly(unlinked.id, 'Alguém aí?');
    await stack.gateway.deps.outbound.dispatchDue();
    expect(await prisma.message.findUniqueOrThrow({ where: { id: stuck } })).toMatchObject({ status: 'queued', errorCode: 'whatsapp_not_connected' });
    const failed = await eventually(async () => {
      const row = await prisma.message.findUniqueOrThrow({ where: { id: stuck } });
      expect(row.status).toBe('failed');
      return row;
    }, 20_000);
    expect(failed.errorCode).toBe('whatsapp_not_connected');
    expect(failed.error).toMatch(/^the connection was not open in any process for \d+ s; the message was not sent$/);
    expect(failed.updatedAt.getTime() - failed.createdAt.getTime()).toBeGreaterThanOrEqual(4_000);
  });
});
