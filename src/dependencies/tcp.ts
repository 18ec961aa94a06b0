import net from 'node:net';

/** host:port, [v6]:port, or a bare host (port 7233, Temporal's). */
export function parseHostPort(address: string, defaultPort = 7233): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) return { host: address, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/**
 * Opens and closes a TCP connection: tells "nothing listens" (ECONNREFUSED),
 * "no route" or "no such host" apart before a gRPC client turns them all into
 * "Failed to connect before the deadline" ten seconds later.
 */
export function probeTcp(address: string, timeoutMs = 5_000): Promise<void> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (err?: Error) => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () =>
      done(Object.assign(new Error(`connect ETIMEDOUT ${address}`), { code: 'ETIMEDOUT' })),
    );
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}
