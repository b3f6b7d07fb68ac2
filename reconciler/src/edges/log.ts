// Structured logs: one JSON line per event, with a level. Fields named like secrets are redacted,
// so a careless `log.info('x', { token })` still never prints one.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const SECRET = /token|credential|password|secret|authorization|cookie/i;

export function createLogger(options: { level: LogLevel; write?: (line: string) => void; base?: LogFields }): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = options.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < ORDER[options.level]) return;
    write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...redact(base), ...redact(fields ?? {}) }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, write, base: { ...base, ...fields } }),
  };
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET.test(key)) out[key] = '[redacted]';
    else if (value instanceof Error) out[key] = { message: value.message, code: (value as { code?: unknown }).code };
    else out[key] = value;
  }
  return out;
}

/** A logger that keeps nothing: for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
