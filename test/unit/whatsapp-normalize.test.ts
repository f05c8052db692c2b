import { describe, expect, it } from 'vitest';
import { contentsOf } from '../../adapters/whatsapp/connection.js';
import { ignorableKinds, ignoresJid, phoneOfJid, readMessage, unreadableText } from '../../adapters/whatsapp/normalize.js';
import { receivedMessage, unreadableMessage } from '../support/fake-whatsapp.js';

const ana = '5511987654321@s.whatsapp.net';
const all = [...ignorableKinds];

describe('reading a WhatsApp message', () => {
  it('unwraps disappearing and view-once messages to what the person sent', () => {
    const read = readMessage(
      receivedMessage({ from: ana, pushName: ' Ana ', message: { ephemeralMessage: { message: { viewOnceMessage: { message: { imageMessage: { caption: 'Foto', mimetype: 'image/png', fileLength: 42 } } } } } } }),
      all,
    );
    expect(read).toMatchObject({ kind: 'message', text: 'Foto', pushName: 'Ana', media: { kind: 'image', contentType: 'image/png', size: 42 } });
  });

  it('keeps what it cannot show yet instead of dropping it, and reads button answers', () => {
    expect(readMessage(receivedMessage({ from: ana, message: { pollCreationMessage: { name: 'Qual horário?' } } }), all)).toMatchObject({
      kind: 'message',
      text: '[pollCreation message]',
      fields: { messageType: 'pollCreationMessage' },
    });
    expect(readMessage(receivedMessage({ from: ana, message: { buttonsResponseMessage: { selectedDisplayText: 'Quero um orçamento' } } }), all)).toMatchObject({
      text: 'Quero um orçamento',
    });
  });

  it('tells apart what is not a lead, and lets a kind through when the source asks', () => {
    const newsletter = receivedMessage({ from: '120363144038483540@newsletter', message: { conversation: 'news' } });
    const group = receivedMessage({ from: '120363025246125486@g.us', participant: '5511911110000@s.whatsapp.net', message: { conversation: 'oi grupo' } });
    expect(readMessage(newsletter, all)).toMatchObject({ kind: 'none', why: 'newsletters are ignored on this source' });
    expect(readMessage(group, all)).toMatchObject({ kind: 'none', why: 'groups are ignored on this source' });
    expect(readMessage(receivedMessage({ from: ana, message: { reactionMessage: { key: { remoteJid: ana, id: 'X' }, text: '👍' } } }), all)).toMatchObject({ kind: 'ignored', why: 'reactions' });
    expect(readMessage(group, ['status'])).toMatchObject({ kind: 'message', chat: '120363025246125486@g.us', participant: '5511911110000@s.whatsapp.net', text: 'oi grupo' });
    expect(readMessage(receivedMessage({ from: ana, message: {} }), all)).toMatchObject({ kind: 'none' });
  });

  it('has Baileys drop groups, status, broadcast lists and channels before decrypting, unless the source lets them through', () => {
    const ignored = ignoresJid(all);
    expect(['120363025246125486@g.us', 'status@broadcast', '1718900000@broadcast', '120363144038483540@newsletter'].map(ignored)).toEqual([true, true, true, true]);
    expect([ana, '187654321098765@lid', 's.whatsapp.net'].map(ignored)).toEqual([false, false, false]);
    expect(ignoresJid(['status'])('120363025246125486@g.us')).toBe(false);
  });

  it('reads a message that could not be decrypted as a message saying so, with the reason', () => {
    const stub = unreadableMessage({ from: ana, pushName: 'Ana', reason: 'Bad MAC' });
    expect(stub.message ?? null).toBeNull();
    expect(readMessage(stub, all)).toMatchObject({ kind: 'message', chat: ana, pushName: 'Ana', text: unreadableText, unreadable: { reason: 'Bad MAC' }, media: null });
    // The business's own message from the phone comes again by itself.
    expect(readMessage(Object.assign(unreadableMessage({ from: ana, reason: 'No session' }), { key: { remoteJid: ana, id: 'Y', fromMe: true } }), all)).toMatchObject({ kind: 'none' });
    expect(readMessage(unreadableMessage({ from: '120363025246125486@g.us', reason: 'No SenderKeyRecord found for decryption' }), all)).toMatchObject({ kind: 'none' });
  });

  it('keeps the Click-to-WhatsApp ad a message came from as its attribution', () => {
    const read = readMessage(
      receivedMessage({
        from: ana,
        message: {
          extendedTextMessage: {
            text: 'Olá! Vi o anúncio',
            contextInfo: {
              conversionSource: 'FB_Ads',
              entryPointConversionSource: 'ctwa_ad',
              entryPointConversionApp: 'facebook',
              externalAdReply: { title: 'Placas solares', body: '  ', sourceType: 'ad', sourceId: '120210000000000002', sourceUrl: 'https://fb.me/1xyz', ctwaClid: 'AfcCLID' },
            },
          },
        },
      }),
      all,
    );
    expect(read).toMatchObject({
      kind: 'message',
      text: 'Olá! Vi o anúncio',
      attribution: { ad_id: '120210000000000002', ad_source_type: 'ad', ad_title: 'Placas solares', ad_url: 'https://fb.me/1xyz', ad_app: 'facebook', ctwa_clid: 'AfcCLID', conversion_source: 'FB_Ads', entry_point: 'ctwa_ad' },
    });
    expect(read.kind === 'message' && 'ad_body' in read.attribution).toBe(false);
    expect(readMessage(receivedMessage({ from: ana, message: { conversation: 'Oi' } }), all)).toMatchObject({ attribution: {} });
  });

  it('takes the phone only from phone-number ids', () => {
    expect(phoneOfJid('551187654321@s.whatsapp.net')).toBe('+551187654321');
    expect(phoneOfJid('551187654321:12@s.whatsapp.net')).toBe('+551187654321');
    expect(phoneOfJid('187654321098765@lid')).toBeNull();
    expect(phoneOfJid('120363025246125486@g.us')).toBeNull();
  });
});

describe('what a send becomes', () => {
  const file = (contentType: string, filename = 'f') => ({ filename, contentType, data: Buffer.from(filename) });

  it('puts the text in the first caption that can carry it, and after an audio otherwise', () => {
    expect(contentsOf({ id: 'm', to: ana, text: 'Oi' })).toEqual([{ content: { text: 'Oi' }, carriesText: true }]);
    expect(contentsOf({ id: 'm', to: ana, text: 'Veja', attachments: [file('video/mp4', 'v'), file('image/jpeg', 'i')] }).map((c) => c.content)).toEqual([
      { video: Buffer.from('v'), mimetype: 'video/mp4', caption: 'Veja' },
      { image: Buffer.from('i'), mimetype: 'image/jpeg' },
    ]);
    expect(contentsOf({ id: 'm', to: ana, text: '', attachments: [file('audio/ogg', 'a')] }).map((c) => c.content)).toEqual([{ audio: Buffer.from('a'), mimetype: 'audio/ogg' }]);
  });
});
