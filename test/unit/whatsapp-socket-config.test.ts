import { Browsers, initAuthCreds, proto } from '@whiskeysockets/baileys';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { socketConfig } from '../../adapters/whatsapp/driver.js';
import { ignoresJid } from '../../adapters/whatsapp/normalize.js';

const config = socketConfig({
  auth: { creds: initAuthCreds(), keys: { get: async () => ({}), set: async () => undefined } },
  version: undefined,
  logger: pino({ level: 'silent' }),
  getMessage: async () => undefined,
  shouldIgnoreJid: ignoresJid(['groups']),
});
const { HistorySyncType } = proto.Message;

describe("the socket the adapter asks Baileys for", () => {
  it('lets the first, recent and push-name history through, so Baileys learns who each LID is, but never the full history', () => {
    const sync = (syncType: proto.Message.HistorySyncType) => config.shouldSyncHistoryMessage!(proto.Message.HistorySyncNotification.fromObject({ syncType }));
    expect([HistorySyncType.INITIAL_BOOTSTRAP, HistorySyncType.RECENT, HistorySyncType.PUSH_NAME].map(sync)).toEqual([true, true, true]);
    expect([HistorySyncType.FULL, HistorySyncType.ON_DEMAND, HistorySyncType.INITIAL_STATUS_V3, HistorySyncType.NON_BLOCKING_DATA].map(sync)).toEqual([false, false, false, false]);
    expect(config.syncFullHistory).toBe(false);
  });

  it('presents itself as a browser WhatsApp knows (a custom name breaks pairing codes)', () => {
    expect(config.browser).toEqual(Browsers.ubuntu('Chrome'));
    expect(config.browser![1]).toBe('Chrome');
  });

  it('has Baileys drop the chats the source ignores before decrypting them', () => {
    expect(config.shouldIgnoreJid!('120363025246125486@g.us')).toBe(true);
    expect(config.shouldIgnoreJid!('5511987654321@s.whatsapp.net')).toBe(false);
  });
});
