/**
 * A local HTTP server on 127.0.0.1 (ephemeral port) that answers intensity-API requests from a
 * handler, records every request, and can leave one hanging to exercise timeouts. Tests never touch
 * the real network.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}

export type Reply =
  | { readonly status?: number; readonly headers?: Readonly<Record<string, string>>; readonly json?: unknown; readonly text?: string }
  /** Never answer (the client must time out). */
  | 'hang';

export type Handler = (request: RecordedRequest, index: number) => Reply;

export interface FakeServer {
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  /** How many requests went to this path. */
  count(path: string): number;
  close(): Promise<void>;
}

export async function startFakeServer(handler: Handler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, headers: req.headers };
    requests.push(recorded);
    let reply: Reply;
    try {
      reply = handler(recorded, requests.length - 1);
    } catch (error) {
      reply = { status: 500, text: `test handler threw: ${(error as Error).message}` };
    }
    if (reply === 'hang') return;
    const body = reply.json === undefined ? (reply.text ?? '') : JSON.stringify(reply.json);
    res.writeHead(reply.status ?? 200, { 'content-type': reply.json === undefined ? 'text/plain' : 'application/json', ...reply.headers });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Runs `run` against a server of its own (for failure cases), closed afterwards whatever happens. */
export async function withServer<T>(handler: Handler, run: (server: FakeServer) => Promise<T>): Promise<T> {
  const own = await startFakeServer(handler);
  try {
    return await run(own);
  } finally {
    await own.close();
  }
}

/** Records the delays asked for and returns at once, so backoff tests run fast. */
export function recordingSleep(): { readonly sleeps: number[]; sleep(ms: number): Promise<void> } {
  const sleeps: number[] = [];
  return {
    sleeps,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  };
}
