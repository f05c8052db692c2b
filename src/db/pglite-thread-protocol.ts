/** What the gateway tells the embedded database's thread (src/db/pglite-thread.mjs) when starting it. */
export interface PgliteThreadData {
  dataDir: string;
  socketPath: string;
  maxConnections: number;
}

/** What the thread answers: once started (or not), and once closed after a 'close' message. */
export type PgliteThreadMessage = { type: 'ready' } | { type: 'failed'; message: string } | { type: 'closed' };
