import type { Server, Socket } from 'node:net';
import { clientKey, unmappedAddress } from '../client-address.ts';
import { cidrContains, parseCidr } from '../cidr.ts';

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
 * Caps connections per client on a listening server, by socket address. The operator's own proxies
 * (`trusted`) are exempt: every client behind them shares their address, and the proxy bounds them.
 */
export function capConnectionsPerClient(server: Server, max: number, trusted: string[] = []): void {
  const open = new Map<string, number>();
  const proxies = trusted.map((t) => parseCidr(t)).filter((c) => c !== null);
  const isProxy = (address: string) => {
    const a = parseCidr(unmappedAddress(address));
    return a !== null && proxies.some((p) => cidrContains(p, a));
  };
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    if (isProxy(address)) return;
    const key = clientKey(address);
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
