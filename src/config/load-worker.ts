/** Worker-thread entry of load-async.ts: loads one file and posts a WorkerReply. */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from './errors';
import type { WorkerReply } from './load-async';
import { loadConfigFile } from './load';

const { file } = workerData as { file: string };
let reply: WorkerReply;
try {
  reply = { status: 'loaded', json: JSON.stringify(loadConfigFile(file)) };
} catch (e) {
  reply = e instanceof ConfigError ? { status: 'invalid', file: e.file, errors: e.errors, warnings: e.warnings } : { status: 'failed', message: (e as Error).message };
}
parentPort!.postMessage(reply);
