// Listening and closing, the same for both doors, with timeouts against clients that hold a
// connection without finishing their request (slowloris).
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface Timeouts {
  /** All request headers must arrive within this. */
  headersMs: number;
  /**
   * The whole request (headers and body) must arrive within this. Sized for the largest upload
   * on a slow link: 100 MB at 3 Mbit/s takes about 4.5 minutes.
   */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { headersMs: 30_000, requestMs: 300_000, keepAliveMs: 30_000 };

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ListenOptions {
  onUpgrade?: UpgradeHandler;
  timeouts?: Partial<Timeouts>;
}

export interface Listening {
  server: http.Server;
  url: string;
  /** Stop accepting, let running requests finish for up to graceMs, then cut them. */
  close(graceMs?: number): Promise<void>;
}

export async function listen(handler: http.RequestListener, host: string, port: number, options: ListenOptions = {}): Promise<Listening> {
  const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const headersTimeout = Math.min(t.headersMs, t.requestMs);
  const server = http.createServer({
    headersTimeout,
    requestTimeout: t.requestMs,
    // Node counts an idle keep-alive connection against the request timeouts and answers its next
    // request with a bare 408: close idle connections before either timeout can run out.
    keepAliveTimeout: Math.max(1, Math.min(t.keepAliveMs, Math.floor(headersTimeout / 2))),
    // Node checks the two timeouts above on this interval (30 s by default): check often enough
    // that a short timeout is kept to within a fraction of itself.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(Math.min(t.headersMs, t.requestMs) / 4))),
  }, handler);
  if (options.onUpgrade) {
    const onUpgrade = options.onUpgrade;
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => undefined);
      onUpgrade(req, socket, head);
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests still running after the grace (a stalled download, say) are cut.
        setTimeout(() => server.closeAllConnections(), graceMs).unref();
      });
      return closing;
    },
  };
}

/** Refuse an upgrade with a status and a body, then close the connection. */
export function refuseUpgrade(socket: Duplex, status: number, body: string, contentType = 'text/plain'): void {
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
