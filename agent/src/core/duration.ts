// Durations of the fleet repo (`30s`, `5m`, `2h`, `7d`, `1h30m`). Pure.
import { AgentError } from '../errors.ts';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  if (!/^(\d+[smhd])+$/.test(text)) {
    throw new AgentError('script.run-policy', `not a duration (e.g. 30s, 5m, 1h30m, 7d): ${JSON.stringify(text)}`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) total += Number(amount) * UNIT_MS[unit!]!;
  if (total <= 0) throw new AgentError('script.run-policy', `duration must be positive: ${text}`);
  return total;
}
