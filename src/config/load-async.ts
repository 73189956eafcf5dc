/**
 * Loads a large bootstrap file on a worker thread, so that the seconds a 10 MB YAML takes to
 * parse and validate never block the control thread (admin /ready, signals, DNS refresh).
 * Small files load inline: a worker costs ~30 ms to start.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError, type ConfigIssue } from './errors';
import { loadConfigFile, type LoadedConfig } from './load';

/** Files at least this big are parsed on a worker thread. */
export const WORKER_THRESHOLD_BYTES = 1 << 20;

/**
 * What the worker posts back (see load-worker.ts). A loaded config travels as JSON text:
 * JSON.parse on this thread costs about a third of structured-clone deserialization of the
 * same 100k-endpoint object (~200 vs ~550 ms). A validated config holds nothing JSON loses.
 */
export type WorkerReply =
  | { status: 'loaded'; json: string }
  | { status: 'invalid'; file: string; errors: ConfigIssue[]; warnings: ConfigIssue[] }
  | { status: 'failed'; message: string };

/** Why an in-flight load ended early. */
export class LoadAbortedError extends Error {
  constructor() {
    super('configuration load aborted');
    this.name = 'LoadAbortedError';
  }
}

/**
 * loadConfigFile(file), on a worker thread when the file is big. Rejects with ConfigError for
 * an unreadable or invalid file (as loadConfigFile throws), LoadAbortedError when `abort`
 * fires first (the worker is terminated).
 */
export async function loadConfigFileAsync(file: string, abort?: AbortSignal, threshold = WORKER_THRESHOLD_BYTES): Promise<LoadedConfig> {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    /* loadConfigFile reports it */
  }
  if (size < threshold) return loadConfigFile(file);
  if (abort?.aborted) throw new LoadAbortedError();
  const worker = new Worker(join(__dirname, 'load-worker.js'), { workerData: { file } });
  try {
    return await new Promise<LoadedConfig>((resolve, reject) => {
      const onAbort = (): void => reject(new LoadAbortedError());
      abort?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (m: WorkerReply) => {
        abort?.removeEventListener('abort', onAbort);
        if (m.status === 'loaded') resolve(JSON.parse(m.json) as LoadedConfig);
        else if (m.status === 'invalid') reject(new ConfigError(m.file, m.errors, m.warnings));
        else reject(new Error(m.message));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`configuration loader thread exited with code ${code}`)));
    });
  } finally {
    void worker.terminate();
  }
}
