import { describe, expect, it } from 'vitest';
import { inboundKind, type StoredPayload } from '../../src/capture/stored-event.js';

const message: StoredPayload = {
  channel: 'whatsapp',
  sourceId: 'src_1',
  from: { whatsappId: '5511987654321@s.whatsapp.net', name: 'Ana' },
  receivedAt: '2026-03-02T12:00:00.000Z',
  text: 'Olá',
};

describe('the kind of a stored inbound event', () => {
  it('is a message unless a field marks it as something else', () => {
    expect(inboundKind(message)).toEqual({ kind: 'message' });
    // Opting out is said in a message, and handled with it.
    expect(inboundKind({ ...message, text: 'SAIR', optOut: true })).toEqual({ kind: 'message' });
  });

  it('carries what its handler needs', () => {
    const delivery = { externalId: 'wamid.1', status: 'read' as const };
    expect(inboundKind({ ...message, delivery })).toEqual({ kind: 'delivery', delivery });
    const bounce = { recipients: ['ana@example.com'], reason: '550 5.1.1 user unknown' };
    expect(inboundKind({ ...message, channel: 'email', bounce })).toEqual({ kind: 'bounce', bounce });
    const call = { callId: 'CA1', status: 'ringing' as const };
    expect(inboundKind({ ...message, channel: 'voice', call })).toEqual({ kind: 'call', call });
    expect(inboundKind({ ...message, samePerson: true })).toEqual({ kind: 'same-person' });
    expect(inboundKind({ ...message, outgoing: true })).toEqual({ kind: 'outgoing' });
  });

  it('reads a report before what it reports on', () => {
    // A delivery report or a bounce never opens a lead, whatever else the adapter kept on it.
    const delivery = { externalId: 'SM1', status: 'failed' as const, error: 'unreachable', errorCode: '30003' };
    expect(inboundKind({ ...message, delivery, outgoing: true }).kind).toBe('delivery');
    expect(inboundKind({ ...message, bounce: { recipients: [], reason: 'x' }, delivery }).kind).toBe('bounce');
  });
});
