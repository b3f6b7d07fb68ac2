// /metrics in the Prometheus text exposition format.
import type { AppDeps } from './app.ts';

export async function renderMetrics(deps: AppDeps): Promise<string> {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric('deployx_agents_connected', 'gauge', 'Agents connected to the /agent namespace.', [['', deps.gateway().connectedCount]]);
  metric('deployx_handshakes_busy_total', 'counter', 'Agent handshakes refused with server.busy (admission limit).', [['', deps.gateway().busyRefusals]]);
  const jobs = await deps.store.countJobsByState();
  metric('deployx_jobs', 'gauge', 'Jobs by state.', Object.entries(jobs).map(([state, n]) => [`{state="${state}"}`, n]));
  const states = new Map<string, number>();
  for (const s of deps.reconciler.statuses.values()) states.set(s.state, (states.get(s.state) ?? 0) + 1);
  metric('deployx_devices', 'gauge', 'Devices by drift state (reconciled since start).', [...states].map(([s, n]) => [`{state="${s}"}`, n]));
  const t = deps.reconciler.timings;
  metric('deployx_reconcile_duration_seconds', 'summary', 'Time spent in reconcile passes.', [
    ['_sum{kind="device"}', round(t.deviceSeconds)],
    ['_count{kind="device"}', t.devicePasses],
    ['_sum{kind="source"}', round(t.sourceSeconds)],
    ['_count{kind="source"}', t.sourcePasses],
  ]);
  const latest = (await deps.store.listRevisions({ limit: 1 }))[0];
  metric('deployx_revision_accepted', 'gauge', '1 when the newest revision seen was accepted, 0 when rejected.', [
    [latest ? `{revision="${latest.revision}"}` : '', latest ? (latest.status === 'accepted' ? 1 : 0) : 0],
  ]);
  metric('deployx_queue_depth', 'gauge', 'Keys waiting or running in the reconcile queue.', [['', deps.reconciler.queue.depth + deps.reconciler.pendingDevices]]);
  return lines.join('\n') + '\n';
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
