/**
 * Writes an admin response body from an async source of chunks: the body is produced while
 * it is sent (the producer yields the event loop between slices), a slow reader pauses the
 * producer instead of buffering the page, and a client that goes away stops it.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

export type StreamOutcome = 'sent' | 'client_gone';

/**
 * Send `status` + `headers`, then every chunk of `body`. The head is written with the first
 * chunk, so a producer that throws before producing anything leaves the response untouched
 * (the caller can still answer 500); after that a failure destroys the connection, as a
 * truncated body must not look complete. HEAD requests get the head only.
 */
export async function streamBody(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: AsyncIterable<string>): Promise<StreamOutcome> {
  let gone = false;
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    gone = true;
    wake?.();
  };
  const onDrain = (): void => wake?.();
  res.on('close', onClose);
  res.on('drain', onDrain);
  try {
    if (res.req?.method === 'HEAD') {
      res.writeHead(status, headers);
      res.end();
      return 'sent';
    }
    let started = false;
    for await (const chunk of body) {
      if (gone) return 'client_gone';
      if (!started) {
        res.writeHead(status, headers);
        started = true;
      }
      if (chunk.length === 0) continue;
      if (!res.write(chunk)) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        if (gone) return 'client_gone';
      }
    }
    if (!started) res.writeHead(status, headers);
    res.end();
    return 'sent';
  } finally {
    res.off('close', onClose);
    res.off('drain', onDrain);
  }
}
