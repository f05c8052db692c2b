import type { AdapterContext } from '../../src/channels/contract.js';
import { errorMessage } from '../../src/errors.js';
import type { WhatsAppSocket } from './driver.js';
import { stateKeys } from './state-keys.js';

/** The QR code to scan now, as the process that holds the number stores it for every process. */
export interface StoredQr {
  qr: string;
  at: string;
}
export interface PairingRequest {
  id: string;
  phone: string;
  at: string;
}
export interface PairingAnswer {
  id: string;
  code?: string;
  error?: string;
}

/**
 * Pairing codes: a request made through any process (stored in the source's state) is answered
 * by the process that holds the number, once its socket can ask WhatsApp for a code.
 */
export class PairingCodes {
  private pairingBusy = false;
  private answeredPairing: string | undefined;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly source: { id: string },
  ) {}

  /** Serves a pairing-code request (made through any process) once this socket can answer it. */
  async serve(socket: WhatsAppSocket | undefined, ready: boolean): Promise<void> {
    if (!socket || !ready || this.pairingBusy) return;
    this.pairingBusy = true;
    try {
      const request = await this.ctx.state.get<PairingRequest>(this.source.id, stateKeys.pairingRequest);
      if (!request || request.id === this.answeredPairing || Date.now() - Date.parse(request.at) > 2 * 60_000) return;
      this.answeredPairing = request.id;
      let answer: PairingAnswer;
      try {
        answer = { id: request.id, code: await socket.requestPairingCode(request.phone) };
      } catch (error) {
        answer = { id: request.id, error: errorMessage(error) };
      }
      await this.ctx.state.set(this.source.id, stateKeys.pairingAnswer, answer);
    } finally {
      this.pairingBusy = false;
    }
  }
}
