import { describe, expect, it } from 'vitest';
import { contentsOf } from '../../adapters/whatsapp/connection.js';
import { ignorableKinds, phoneOfJid, readMessage } from '../../adapters/whatsapp/normalize.js';
import { receivedMessage } from '../support/fake-whatsapp.js';

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
    expect(readMessage(newsletter, all)).toMatchObject({ kind: 'ignored', why: 'newsletters' });
    expect(readMessage(group, all)).toMatchObject({ kind: 'ignored', why: 'groups' });
    expect(readMessage(group, ['status'])).toMatchObject({ kind: 'message', chat: '120363025246125486@g.us', participant: '5511911110000@s.whatsapp.net', text: 'oi grupo' });
    expect(readMessage(receivedMessage({ from: ana, message: {} }), all)).toMatchObject({ kind: 'none' });
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
