// The dashboard's routes (History API paths). The server answers index.html for every GET that is
// not /api, /pxe, /healthz, /metrics or /socket.io, so each of these survives a reload.

export type Route =
  | { page: 'overview' }
  | { page: 'devices' }
  | { page: 'device'; id: string }
  | { page: 'revisions' }
  | { page: 'rollouts' }
  | { page: 'rollout'; id: string }
  | { page: 'audit' }
  | { page: 'not-found'; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((p) => p !== '').map((p) => safeDecode(p));
  const [first, second, ...rest] = parts;
  if (rest.length > 0) return { page: 'not-found', path: pathname };
  if (first === undefined) return { page: 'overview' };
  if (first === 'devices') return second === undefined ? { page: 'devices' } : { page: 'device', id: second };
  if (first === 'revisions' && second === undefined) return { page: 'revisions' };
  if (first === 'audit' && second === undefined) return { page: 'audit' };
  if (first === 'rollouts') return second === undefined ? { page: 'rollouts' } : { page: 'rollout', id: second };
  return { page: 'not-found', path: pathname };
}

export function routePath(route: Route): string {
  switch (route.page) {
    case 'overview':
      return '/';
    case 'devices':
      return '/devices';
    case 'device':
      return `/devices/${encodeURIComponent(route.id)}`;
    case 'revisions':
      return '/revisions';
    case 'rollouts':
      return '/rollouts';
    case 'rollout':
      return `/rollouts/${encodeURIComponent(route.id)}`;
    case 'audit':
      return '/audit';
    case 'not-found':
      return route.path;
  }
}

/** The nav entry a route belongs to. */
export function sectionOf(route: Route): 'overview' | 'devices' | 'revisions' | 'rollouts' | 'audit' | null {
  switch (route.page) {
    case 'device':
      return 'devices';
    case 'rollout':
      return 'rollouts';
    case 'not-found':
      return null;
    default:
      return route.page;
  }
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
