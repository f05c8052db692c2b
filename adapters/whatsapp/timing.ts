/** How one number's connection paces itself: a module of its own, so the adapter loads Baileys only when a number is linked. */
export interface ConnectionTiming {
  leaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Connected, yet nothing heard for this long: ping WhatsApp, and reconnect when it does not answer. */
  watchdogMs: number;
  pingTimeoutMs: number;
  /** How long "typing…" shows before a message goes out. */
  typingMs: number;
  /** Least time between two messages from one number (plus up to as much again of jitter). */
  sendGapMs: number;
  /** How often a process that is pairing looks for a pairing-code request made through another process. */
  pairingPollMs: number;
  /** One try at downloading a received file is given up after this long. */
  mediaTimeoutMs: number;
  /** Tries at downloading a received file before it is marked failed (with the last reason). */
  mediaAttempts: number;
  /** First wait before trying a failed download again, then doubling. */
  mediaRetryBaseMs: number;
  /** How often a connected number looks for files whose next try is due. */
  mediaPollMs: number;
  /** A send the server has not acknowledged after this long is marked failed. */
  ackTimeoutMs: number;
  /** A send that reached a process without the number's connection is offered again after about this long. */
  elsewhereRetryMs: number;
  /** The same error is logged at most once per this long (with how many were held back). */
  logRepeatMs: number;
}

export const defaultTiming: ConnectionTiming = {
  leaseMs: 30_000,
  retryBaseMs: 2_000,
  retryMaxMs: 5 * 60_000,
  watchdogMs: 5 * 60_000,
  pingTimeoutMs: 20_000,
  typingMs: 1_500,
  sendGapMs: 1_500,
  pairingPollMs: 1_000,
  mediaTimeoutMs: 60_000,
  mediaAttempts: 6,
  mediaRetryBaseMs: 5_000,
  mediaPollMs: 10_000,
  ackTimeoutMs: 2 * 60_000,
  elsewhereRetryMs: 2_000,
  logRepeatMs: 5 * 60_000,
};
