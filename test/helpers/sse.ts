// A minimal Server-Sent Events client for tests: it keeps every event, in order, and waits for
// the ones a test expects. Node 20 has no EventSource.
import { get, type IncomingMessage } from 'node:http';
import { eventually } from './eventually.js';

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  response: Promise<IncomingMessage>;
  events: SseEvent[];
  /** ": comment" lines seen (heartbeats). */
  comments: string[];
  /** Resolves with the first event, from the start, that matches; rejects after timeoutMs (generous: a busy machine only makes it slower). */
  until(match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): SseStream {
  const events: SseEvent[] = [];
  const comments: string[] = [];
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
      });
      res.once('close', () => resolveEnded());
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
    until(match, timeoutMs = 120_000) {
      return eventually(() => {
        const found = events.find(match);
        if (!found) throw new Error(`no matching event yet; got ${JSON.stringify(events.map((e) => (e.event === 'backlog' ? 'backlog' : e.data)))}`);
        return found;
      }, { timeoutMs, what: 'a matching event' });
    },
  };
}
