// Notifications: the bell's unread count, merging live ones with fetched ones, and where each
// one links to. Pure.
import type { UiNotification } from '../../../schemas/protocol.ts';
import type { Route } from './route.ts';

/** Newest first, one per seq, at most `max`. */
export function mergeNotifications(existing: readonly UiNotification[], incoming: readonly UiNotification[], max = 200): UiNotification[] {
  const bySeq = new Map<number, UiNotification>();
  for (const n of existing) bySeq.set(n.seq, n);
  for (const n of incoming) bySeq.set(n.seq, n);
  return [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, max);
}

export function unreadCount(notifications: readonly UiNotification[], lastReadSeq: number): number {
  let count = 0;
  for (const n of notifications) if (n.seq > lastReadSeq) count++;
  return count;
}

/** `9+` past nine, '' for none: what the badge shows. */
export function badgeText(count: number): string {
  return count <= 0 ? '' : count > 9 ? '9+' : String(count);
}

/** The page a notification's subject opens, if any. */
export function subjectRoute(subject: string | undefined): Route | undefined {
  if (!subject) return undefined;
  const colon = subject.indexOf(':');
  if (colon < 0) return undefined;
  const kind = subject.slice(0, colon);
  const id = subject.slice(colon + 1);
  if (id === '') return undefined;
  if (kind === 'device') return { page: 'device', id };
  if (kind === 'rollout') return { page: 'rollout', id };
  if (kind === 'revision') return { page: 'revisions' };
  return undefined;
}

/** Which new notifications deserve a toast: warnings and errors always, others only when few arrive at once. */
export function toastsFor(incoming: readonly UiNotification[], limit = 3): UiNotification[] {
  const important = incoming.filter((n) => n.level === 'error' || n.level === 'warning');
  const rest = incoming.filter((n) => n.level !== 'error' && n.level !== 'warning');
  return [...important, ...(incoming.length <= limit ? rest : [])].slice(0, limit);
}
