// A passive wiretap for tests: a TCP proxy on 127.0.0.1 that forwards every byte between a client
// and a server unchanged and records what the client sent, with a reader for the Socket.IO
// handshakes in it. It plays whoever sits on the path (a proxy, a switch, a Wi-Fi access point)
// and sees a plain `http://` connection.
import net from 'node:net';

export interface Wiretap {
  /** `http://127.0.0.1:<port>`: give this to the client instead of the server's URL. */
  url: string;
  /** Every byte the clients sent, one buffer per connection. */
  sent(): Buffer[];
  close(): Promise<void>;
}

export async function startWiretap(target: URL): Promise<Wiretap> {
  const recorded: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const chunks: Buffer[] = [];
    recorded.push(chunks);
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (data: Buffer) => chunks.push(data));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => recorded.map((chunks) => Buffer.concat(chunks)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The `auth` objects of the Socket.IO CONNECT packets (`40<namespace>,{…}`) a client sent over a
 * websocket, read from the raw bytes: the HTTP upgrade request, then masked client frames
 * (RFC 6455 §5.2). Unfragmented text frames are all a socket.io client sends here.
 */
export function capturedHandshakes(stream: Buffer, namespace: string): Array<Record<string, unknown>> {
  const headerEnd = stream.indexOf('\r\n\r\n');
  if (headerEnd < 0) return [];
  const found: Array<Record<string, unknown>> = [];
  let at = headerEnd + 4;
  while (at + 2 <= stream.length) {
    const opcode = stream[at]! & 0x0f;
    let length = stream[at + 1]! & 0x7f;
    const masked = (stream[at + 1]! & 0x80) !== 0;
    let offset = at + 2;
    if (length === 126) {
      length = stream.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(offset));
      offset += 8;
    }
    const mask = masked ? stream.subarray(offset, offset + 4) : undefined;
    if (masked) offset += 4;
    if (offset + length > stream.length) break;
    const payload = Buffer.from(stream.subarray(offset, offset + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    const prefix = `40${namespace},`;
    if (opcode === 1 && payload.toString('utf8').startsWith(prefix)) {
      found.push(JSON.parse(payload.toString('utf8').slice(prefix.length)) as Record<string, unknown>);
    }
    at = offset + length;
  }
  return found;
}
