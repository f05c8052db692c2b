/** What the adapter keeps in the source's state (readable from any process). */
export const stateKeys = {
  qr: 'qr',
  pairingRequest: 'pairing-request',
  pairingAnswer: 'pairing-answer',
  loggedOut: 'logged-out',
  /** Our sends the server has not acknowledged yet: WhatsApp id → when it was sent. */
  awaitingAck: 'awaiting-ack',
  /** Received messages stored as unreadable, waiting for their readable form: WhatsApp id → when stored. */
  unreadable: 'unreadable',
} as const;
