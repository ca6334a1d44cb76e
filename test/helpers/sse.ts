// A minimal Server-Sent Events client for tests: it keeps every event, in order, and waits for
// the ones a test expects. Node 20 has no EventSource.
import { get, type IncomingMessage } from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  response: Promise<IncomingMessage>;
  events: SseEvent[];
  /** ": comment" lines seen (heartbeats). */
  comments: string[];
  /** Resolves with the first event, from the start, that matches; rejects after timeoutMs. */
  until(match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): SseStream {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => { for (const waiter of waiters) waiter(); };
  let resolveEnded!: () => void;
  const ended = new Promise<void>((resolve) => { resolveEnded = resolve; });
  let buffer = '';
  const parse = (block: string) => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  };
  const request = get(url, { headers: { Accept: 'text/event-stream', ...headers } });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        notify();
      });
      res.once('close', () => { resolveEnded(); notify(); });
      resolve(res);
    });
    request.once('error', (error) => { reject(error); resolveEnded(); });
  });
  return {
    response,
    events,
    comments,
    ended,
    close: () => request.destroy(),
    until(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.event === 'backlog' ? 'backlog' : e.data))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
