import type { Server, Socket } from 'node:net';
import { clientKey } from '../client-address.ts';

/** How long a client has for each part of a request; nothing from outside may hold a connection forever. */
export interface ConnectionLimits {
  /** Whole request, headers and body, in ms (Node's requestTimeout). */
  requestTimeoutMs: number;
  /** Headers alone, in ms (Node's headersTimeout): a client that trickles headers is cut first. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, in ms. */
  keepAliveTimeoutMs: number;
  /** Open connections one client (IPv4 address, IPv6 /64) may hold at once; more are closed at once. */
  connectionsPerClient: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  connectionsPerClient: 64,
};

/**
 * Caps connections per client on a listening server. The count is by socket address: behind a proxy it
 * counts the proxy, so the cap is set well above what one client needs.
 */
export function capConnectionsPerClient(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const key = clientKey(socket.remoteAddress ?? '');
    const n = (open.get(key) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    open.set(key, n);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
}
