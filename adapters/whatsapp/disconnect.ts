import { DisconnectReason } from '@whiskeysockets/baileys';
import type { AdapterContext } from '../../src/channels/contract.js';
import { stateKeys } from './state-keys.js';

/**
 * How one socket ended: reconnect at once (restart), stop until linked again (stop; `forget`:
 * the credentials are dead), link again with a new QR code (relink), learn the current WhatsApp
 * Web version (outdated), or reconnect with backoff (closed).
 */
export type SessionEnd =
  | { kind: 'restart' }
  | { kind: 'stop'; state: 'logged_out' | 'error'; reason: string; forget: boolean }
  | { kind: 'relink'; reason: string }
  | { kind: 'outdated'; error: Error }
  | { kind: 'closed'; error: Error };

/** Codes WhatsApp's `failure` stanza carries that Baileys' DisconnectReason does not name. */
export const failureCode = { paymentRequired: 402, clientOutdated: 405, notAcceptable: 406 } as const;

/**
 * Baileys closes with 500 both for a stream error that names no code (a session WhatsApp no
 * longer accepts) and for any WebSocket error it cannot classify: one is retried, and only this
 * many in a row, with no open connection between them, make the stored session the culprit.
 */
const badSessionsBeforeRelink = 3;

export function statusCodeOf(error: unknown): number | undefined {
  const output = (error as { output?: { statusCode?: unknown } } | undefined)?.output;
  return typeof output?.statusCode === 'number' ? output.statusCode : undefined;
}

/** A number stopped for good (logged out, banned, replaced) at this link generation, and why. */
export interface LoggedOutMark {
  generation: number;
  at: string;
  reason: string;
}

/**
 * How a connection ends and what follows: each of WhatsApp's close codes, the count of closes
 * that blame the stored session, and what a stop or a new link leaves behind (state, vault,
 * webhooks, lease).
 */
export class Disconnects {
  /** Closes with 500 since the last open connection. */
  badSessions = 0;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly source: { id: string },
    private readonly settings: { linkGeneration: number },
    private readonly leaseKey: string,
  ) {}

  /**
   * Each way WhatsApp closes a connection, by its code. Never reconnect after "logged out", a ban
   * or a restriction: the phone unlinked the gateway, or WhatsApp refuses the account, and
   * retrying only gets the number flagged.
   * @see https://baileys.wiki/docs/api/enumerations/DisconnectReason
   */
  classify(error: Error | undefined, versionName: string): SessionEnd {
    const code = statusCodeOf(error);
    const said = error?.message ?? 'no reason given';
    switch (code) {
      case DisconnectReason.loggedOut:
        return { kind: 'stop', state: 'logged_out', reason: 'the phone logged the gateway out (Linked devices)', forget: true };
      case DisconnectReason.forbidden:
      case failureCode.paymentRequired:
      case failureCode.notAcceptable:
        return { kind: 'stop', state: 'error', reason: `WhatsApp refused this account (${code}, banned or restricted): ${said}`, forget: true };
      case DisconnectReason.connectionReplaced:
        return { kind: 'stop', state: 'error', reason: 'another WhatsApp Web session with this link took over (440, connection replaced)', forget: false };
      case DisconnectReason.restartRequired:
        return { kind: 'restart' };
      case DisconnectReason.multideviceMismatch:
        return { kind: 'relink', reason: `WhatsApp no longer accepts this linked device (411): ${said}` };
      case failureCode.clientOutdated:
        return { kind: 'outdated', error: new Error(`WhatsApp refused the WhatsApp Web version (${versionName}) as outdated (405): ${said}`, { cause: error }) };
      case DisconnectReason.badSession:
        if (++this.badSessions >= badSessionsBeforeRelink) return { kind: 'relink', reason: `WhatsApp rejected the stored session ${this.badSessions} times in a row (500): ${said}` };
        break;
    }
    return { kind: 'closed', error: new Error(`WhatsApp connection closed${code ? ` (${code})` : ''}: ${said}`, { cause: error }) };
  }

  /**
   * Stops for good (until a relink): logged out, banned or restricted, or replaced by another
   * session. Retrying would only get the number flagged, or take the link back and forth.
   */
  async markStopped(state: 'logged_out' | 'error', reason: string, forget: boolean): Promise<void> {
    const mark: LoggedOutMark = { generation: this.settings.linkGeneration, at: new Date().toISOString(), reason };
    await this.ctx.state.set(this.source.id, stateKeys.loggedOut, mark);
    await this.ctx.state.set(this.source.id, stateKeys.qr, null);
    // Dead credentials: the next link starts from nothing. Live ones (another session took the
    // link over) are kept, and a relink connects with them again.
    if (forget) await this.ctx.vault.clear(this.source.id);
    await this.ctx.announce(this.source.id, 'source.logged_out', {
      state,
      lastError: reason,
      detail: forget
        ? 'link the number again: PATCH the source with {"relink": true}, then scan the new QR code'
        : 'connect it again once the other session is closed: PATCH the source with {"relink": true}',
    });
    await this.ctx.leases.release(this.leaseKey);
    this.ctx.logger.warn({ sourceId: this.source.id, reason }, 'WhatsApp stopped the connection; it stays stopped until it is linked again');
  }

  /** The stored session is unusable: forget it and start linking again (a new QR code), saying why. */
  async relink(reason: string): Promise<void> {
    this.badSessions = 0;
    await this.ctx.state.set(this.source.id, stateKeys.qr, null);
    await this.ctx.vault.clear(this.source.id);
    await this.ctx.announce(this.source.id, 'source.logged_out', {
      state: 'pairing',
      lastError: reason,
      detail: 'the stored WhatsApp session can no longer be used: scan the new QR code (GET …/qr) to link the number again',
    });
    this.ctx.logger.warn({ sourceId: this.source.id, reason }, 'WhatsApp session unusable; linking again');
  }
}
