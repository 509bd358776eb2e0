// Structured logs (pino): one JSON object a line on stderr, so stdout stays free for what a user
// asked for and log tools can filter by field. Each module takes a child logger named by its scope;
// call sites pass what they are about as fields:
//   log.info({ job, prompt, backend, client }, 'job dispatched')
import pino from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';
export type Logger = PinoLogger;

/**
 * Fields whose values never reach a log line, wherever a call site puts them (top level or one
 * object down, e.g. `{ headers: { authorization } }`): credentials of clients and operators.
 */
const SECRET_FIELDS = ['authorization', 'Authorization', 'token', 'adminToken', 'apiKey', 'apiKeys', 'key', 'password', 'credentials'];
const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.headers.${f}`]),
  'headers["x-admin-token"]',
  '*.headers["x-admin-token"]',
];

// The root writes through this indirection so the destination can change after module-level
// loggers exist (the demo switches to pretty output; a test can capture lines).
let destination: DestinationStream = pino.destination({ dest: 2, sync: true });
const sink: DestinationStream = { write: (line: string) => destination.write(line) };

const root: PinoLogger = pino(
  {
    level: 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // The level as its name: readable without a lookup table, and what log tools expect.
    formatters: { level: (label) => ({ level: label }) },
  },
  sink,
);

/** A logger for one module; its lines carry `scope`. Children follow the root's level. */
export function logger(scope: string): Logger {
  return root.child({ scope });
}

export function setLogLevel(level: LogLevel): void {
  root.level = level;
}

/** Where log lines go from now on (stderr JSON by default); answers the previous destination. */
export function setLogDestination(next: DestinationStream): DestinationStream {
  const previous = destination;
  destination = next;
  return previous;
}

/**
 * Human-readable lines on stderr. pino-pretty is a development dependency, loaded only when asked
 * for: production writes JSON (pipe it through `npx pino-pretty` to read it by eye).
 */
export async function usePrettyLogs(): Promise<void> {
  let pretty: typeof import('pino-pretty').build;
  try {
    pretty = (await import('pino-pretty')).build;
  } catch {
    throw new Error('LOG_FORMAT=pretty needs the pino-pretty package (a development dependency); install it or use LOG_FORMAT=json');
  }
  // Access lines say their fields in the message already; everything else shows its fields.
  const ignore = 'pid,hostname,scope,method,url,statusCode,responseTime';
  setLogDestination(pretty({ destination: 2, sync: true, ignore, messageFormat: '[{scope}] {msg}', translateTime: 'SYS:HH:MM:ss.l' }));
}
