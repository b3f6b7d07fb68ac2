// deployx device list [--pending] [--server URL | --data DIR] [--json]
// deployx device approve NAME [--server URL | --data DIR]
// deployx device reject NAME [--server URL | --data DIR]
// deployx device provision NAME [--for 2h] [--cancel] [--server URL | --data DIR]
//
// Operator decisions on devices through the server's API (edges/http/enrollment-routes.ts):
// approving or rejecting an agent that claimed a declared device with a token not bound to it,
// and arming a declared machine's one install boot (build mode). Exit 0: done. Exit 1: the
// server refused (unknown device, not pending, no provisioning profile). Exit 2: usage, no API
// token, the server unreachable or failing.
import { parseArgs } from 'node:util';
import { UsageError, type CommandIo, usageLine } from '../io.ts';
import { resolveApiServer } from '../running-server.ts';
import { RefusedError, callApi } from '../api-client.ts';
import { parseServerUrl } from './agent-args.ts';

export const HELP = `usage: deployx device list [--pending] [--server URL | --data DIR] [--json]
       deployx device approve NAME [--server URL | --data DIR]
       deployx device reject NAME [--server URL | --data DIR]
       deployx device provision NAME [--for 2h] [--cancel] [--server URL | --data DIR]

  list       devices with their state; those waiting for approval say "pending approval"
  approve    let a pending device in: it gets its jobs
  reject     refuse a pending device: it is deleted and disconnected, its name is free again
  provision  arm a declared machine's next network boot to install (once, within --for;
             default 2h, at most 7d); unarmed machines boot from their disk. --cancel disarms.
  --server URL   the DeployX server, with an API token from DEPLOYX_TOKEN (or DEPLOYX_API_TOKEN)
  --data DIR     the server running on this data dir (its URL and api-token)
                 (neither: the server running on this machine, deployx serve or npm start)
                 (operator role to act, viewer to list)
  --json         print the API's JSON

A device is pending when its agent claimed a declared Device (by MAC, hostname or serial) with an
enrollment token not bound to it (bind one with "deployx token create --device NAME"); the Fleet's
enrollment.autoApprove changes that.

Exit status: 0 done, 1 refused by the server, 2 usage or connection error.`;

const SUBCOMMANDS = ['list', 'approve', 'reject', 'provision'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

interface DeviceRow {
  id: string;
  online: boolean;
  state: string;
  approval?: string;
  revision: string | null;
  lastSeenAt: string | null;
}
interface PendingRow {
  id: string;
  claim: string | null;
  hostname: string | null;
  macs: string[];
  ips: string[];
  enrolledAt: string | null;
}

/** `env` is read for the API token and the running-server discovery (running-server.ts) only. */
export async function runDevice(args: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        data: { type: 'string' },
        pending: { type: 'boolean' },
        for: { type: 'string' },
        cancel: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [sub, name, ...extra] = positionals;
  let server: string;
  let token: string;
  try {
    if (sub === undefined) throw new UsageError('a subcommand is required');
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand "${sub}"`);
    if (sub === 'list' ? name !== undefined : name === undefined) throw new UsageError(sub === 'list' ? `unexpected argument "${name}"` : `${sub} needs a device NAME`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if ((values.for !== undefined || values.cancel) && sub !== 'provision') throw new UsageError('--for and --cancel are options of provision');
    if (values.for !== undefined && values.cancel) throw new UsageError('--for and --cancel exclude each other');
    if (values.pending && sub !== 'list') throw new UsageError('--pending is an option of list');
    ({ url: server, token } = resolveApiServer('device', { server: values.server === undefined ? undefined : parseServerUrl(values.server), data: values.data }, io, env));
  } catch (error) {
    return usage(io, (error as Error).message);
  }

  const command = sub as Subcommand;
  const path = (suffix: string) => `/api/v1/devices/${encodeURIComponent(name!)}${suffix}`;
  try {
    switch (command) {
      case 'list': {
        const [all, pending] = await Promise.all([
          values.pending ? undefined : callApi<{ devices: DeviceRow[] }>(server, token, 'GET', '/api/v1/devices?limit=10000'),
          callApi<{ devices: PendingRow[] }>(server, token, 'GET', '/api/v1/enrollment/pending'),
        ]);
        if (values.json) io.out(JSON.stringify(values.pending ? pending : { devices: all!.devices, pending: pending.devices }, null, 2));
        else for (const line of renderList(all?.devices, pending.devices)) io.out(line);
        return 0;
      }
      case 'approve': {
        await callApi(server, token, 'POST', path('/approve'));
        io.out(`approved ${name}: it gets its jobs now (or at its next connection)`);
        return 0;
      }
      case 'reject': {
        await callApi(server, token, 'POST', path('/reject'));
        io.out(`rejected ${name}: deleted and disconnected; the name is free for the real machine`);
        return 0;
      }
      case 'provision': {
        if (values.cancel) {
          const { disarmed } = await callApi<{ disarmed: boolean }>(server, token, 'POST', path('/provisioning/disarm'));
          io.out(disarmed ? `disarmed ${name}: its next network boot is from its disk` : `${name} was not armed`);
          return 0;
        }
        const { arming } = await callApi<{ arming: { expiresAt: string } }>(server, token, 'POST', path('/provisioning/arm'), values.for === undefined ? {} : { for: values.for });
        io.out(`armed ${name}: its next network boot installs it (once), until ${arming.expiresAt}`);
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof RefusedError) {
      io.err(`deployx device ${command}: ${error.message} (${error.code})`);
      return 1;
    }
    io.err(`deployx device ${command}: ${(error as Error).message}`);
    return 2;
  }
}

function usage(io: CommandIo, message: string): number {
  io.err(usageLine('device', message));
  return 2;
}

/** All devices (pending ones marked), then what the pending ones claimed. */
export function renderList(devices: readonly DeviceRow[] | undefined, pending: readonly PendingRow[]): string[] {
  const lines: string[] = [];
  if (devices) {
    const rows = [
      ['NAME', 'STATE', 'ONLINE', 'REVISION', 'LAST SEEN'],
      ...devices.map((d) => [d.id, d.approval === 'pending' ? 'pending approval' : d.state, d.online ? 'yes' : 'no', d.revision?.slice(0, 12) ?? '-', d.lastSeenAt ?? '-']),
    ];
    if (devices.length === 0) lines.push('no devices');
    else lines.push(...table(rows));
  }
  if (pending.length > 0) {
    if (lines.length > 0) lines.push('');
    lines.push(`${pending.length} waiting for approval (deployx device approve NAME | reject NAME):`);
    lines.push(
      ...table([
        ['NAME', 'CLAIMED BY', 'HOSTNAME', 'ADDRESSES', 'ENROLLED'],
        ...pending.map((p) => [p.id, p.claim ?? '-', p.hostname ?? '-', [...p.ips, ...p.macs].join(',') || '-', p.enrolledAt ?? '-']),
      ]).map((l) => `  ${l}`),
    );
  } else if (!devices) lines.push('no device waits for approval');
  return lines;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
