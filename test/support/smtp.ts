import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  mail: ParsedMail;
}

/**
 * A real SMTP server on loopback (the smtp-server package, speaking the protocol over TCP).
 * `failNext` makes it answer the next DATA commands with an error, as a real server would.
 */
export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  private failures: { code: number; message: string }[] = [];
  private readonly server: SMTPServer;
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        const failure = this.failures.shift();
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const hold = this.holds.shift();
          if (hold) {
            // The whole message is here; the answer waits, as a slow server's would.
            void simpleParser(Buffer.concat(chunks)).then((mail) => {
              this.received.push({ envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) }, mail });
              hold.arrived();
            });
            return;
          }
          if (failure) {
            callback(Object.assign(new Error(failure.message), { responseCode: failure.code }));
            return;
          }
          simpleParser(Buffer.concat(chunks)).then(
            (mail) => {
              this.received.push({
                envelope: {
                  from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                  to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
                },
                mail,
              });
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
  }

  /** Errors of client connections (a killed worker resets its sockets): kept, not thrown. */
  readonly connectionErrors: Error[] = [];

  async start(): Promise<this> {
    // smtp-server emits a client's socket error on the server; with no listener that would end the test process.
    this.server.on('error', (error: Error) => this.connectionErrors.push(error));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  failNext(count: number, code: number, message: string): void {
    for (let i = 0; i < count; i++) this.failures.push({ code, message });
  }

  private holds: { arrived: () => void }[] = [];

  /** The next message is taken in whole but never answered: resolves once it has arrived. */
  holdNext(): Promise<void> {
    return new Promise((resolve) => this.holds.push({ arrived: resolve }));
  }

  clearFailures(): void {
    this.failures = [];
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
