// The one logger of DeployX — server, agent, simulator and CLI alike. One JSON object per line,
// `{ts, level, msg, ...fields}`, for journald, Docker or a log shipper.
//
// Secrets never reach a line, by one rule applied at every depth: a field whose name looks secret
// (credential, token, password, secret, authorization, cookie) is replaced, and the secret values
// the process knows (an agent's credential and enrollment token) are masked wherever they appear
// in a string — so an error message that echoes one cannot leak it either.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{device: 'sim-7'}`). */
  child(fields: LogFields): Logger;
}

/** Values to mask in every line; the agent adds its credential and token as it learns them. */
export class SecretSet {
  private readonly values = new Set<string>();

  add(value: string | undefined): void {
    if (value !== undefined && value.length >= 4) this.values.add(value);
  }

  mask(text: string): string {
    let out = text;
    for (const value of this.values) if (out.includes(value)) out = out.replaceAll(value, '[redacted]');
    return out;
  }

  get size(): number {
    return this.values.size;
  }
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /credential|token|password|secret|authorization|cookie|private_?key/i;
const MAX_DEPTH = 4;

export interface LoggerOptions {
  /** Receives one line (no trailing newline). Default: standard error. */
  write?: (line: string) => void;
  /** Lines below this level are dropped. Default: info. */
  level?: LogLevel;
  now?: () => Date;
  /** Added to every line. */
  fields?: LogFields;
  secrets?: SecretSet;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const min = LEVELS[options.level ?? 'info'];
  const now = options.now ?? (() => new Date());
  const secrets = options.secrets ?? new SecretSet();
  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (LEVELS[level] < min) return;
      const line: LogFields = { ts: now().toISOString(), level, msg: secrets.mask(msg) };
      for (const [key, value] of Object.entries({ ...base, ...fields })) {
        if (key === 'ts' || key === 'level' || key === 'msg') continue;
        line[key] = SECRET_KEY.test(key) ? '[redacted]' : sanitize(value, secrets, 0);
      }
      try {
        write(JSON.stringify(line));
      } catch {
        // A log sink that fails (or a field that cannot be serialised) must not take the process down.
      }
    };
    return {
      debug: (msg, fields) => log('debug', msg, fields),
      info: (msg, fields) => log('info', msg, fields),
      warn: (msg, fields) => log('warn', msg, fields),
      error: (msg, fields) => log('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

/** A logger that keeps nothing: for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

function sanitize(value: unknown, secrets: SecretSet, depth: number): unknown {
  if (typeof value === 'string') return secrets.mask(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { message: secrets.mask(value.message), ...(typeof code === 'string' ? { code } : {}) };
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((v) => sanitize(v, secrets, depth + 1));
  const out: LogFields = {};
  for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? '[redacted]' : sanitize(v, secrets, depth + 1);
  return out;
}
