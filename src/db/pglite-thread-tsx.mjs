// Starts the embedded database's thread from its TypeScript source, when the gateway itself runs
// from source (`node --import tsx`): a worker thread does not inherit the process's loader hooks.
// The built gateway (dist/) starts the compiled pglite-thread.js directly instead.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
