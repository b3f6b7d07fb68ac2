// Only the authenticated namespaces are served: /agent (agent-gateway.ts) and /ui
// (ui-gateway.ts), each with its own handshake check. socket.io itself refuses a namespace
// nobody created ("Invalid namespace"), but the default namespace `/` always exists and has no
// check: a client could sit on it, without credentials, for as long as it liked. It is refused at
// its handshake. A connection that joins no namespace at all is closed after CONNECT_TIMEOUT_MS.
import type { Server } from 'socket.io';

export const CONNECT_TIMEOUT_MS = 10_000;

export function refuseDefaultNamespace(io: Server): void {
  io.of('/').use((_socket, next) => {
    next(Object.assign(new Error('namespace.refused'), { data: { code: 'namespace.refused', reason: 'connect to /agent or /ui' } }));
  });
}
