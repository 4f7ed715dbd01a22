import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * What the proxy does with the path to its target:
 * - `forward`: relays both ways;
 * - `blackhole`: a network cut that nobody reports: new connections are accepted and never answered,
 *   and existing ones stop moving in both directions, their bytes held (as a real partition holds them in
 *   TCP's retransmissions) until it forwards again;
 * - `refuse`: the target's host is down: new connections are refused (nothing listens on the port) and
 *   existing ones are closed.
 */
export type ProxyMode = 'forward' | 'blackhole' | 'refuse';

/** A loopback TCP proxy in front of one server, whose path can be cut and restored. */
export interface TcpProxy {
  port: number;
  mode(): ProxyMode;
  forward(): Promise<void>;
  blackhole(): void;
  refuse(): void;
  /** Connections accepted so far, and those accepted while black-holing. */
  counts(): { accepted: number; held: number };
  close(): Promise<void>;
}

/** One accepted connection; `upstream` is null while it is held unanswered. */
interface Pair {
  client: Socket;
  upstream: Socket | null;
}

/** Starts a proxy on a free loopback port that forwards to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  const pairs = new Set<Pair>();
  let accepted = 0;
  let held = 0;
  let server: Server;
  let port = 0;

  const end = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  };

  /** Relays `from` into `to`, pausing `from` while `to` is full or the path is cut. */
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (mode === 'forward') from.resume();
    });
  };

  const join = (pair: Pair) => {
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => end(pair));
    upstream.on('close', () => end(pair));
    relay(pair.client, upstream);
    relay(upstream, pair.client);
    pair.client.resume();
  };

  const listen = () => new Promise<void>((resolve, reject) => {
    server = createServer({ pauseOnConnect: true }, (client) => {
      accepted++;
      const pair: Pair = { client, upstream: null };
      pairs.add(pair);
      client.on('error', () => end(pair));
      client.on('close', () => end(pair));
      if (mode === 'forward') join(pair);
      else held++;
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      port = (server.address() as { port: number }).port;
      resolve();
    });
  });
  await listen();

  return {
    port,
    mode: () => mode,
    async forward() {
      if (mode === 'refuse') await listen();
      mode = 'forward';
      for (const pair of pairs) {
        if (pair.upstream === null) join(pair);
        else {
          pair.client.resume();
          pair.upstream.resume();
        }
      }
    },
    blackhole() {
      mode = 'blackhole';
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream?.pause();
      }
    },
    refuse() {
      if (mode === 'refuse') return;
      mode = 'refuse';
      server.close();
      for (const pair of [...pairs]) end(pair);
    },
    counts: () => ({ accepted, held }),
    async close() {
      mode = 'refuse';
      for (const pair of [...pairs]) end(pair);
      await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
    },
  };
}
