// What names a backend of the pool — its address (URL and credentials) and its labels — as
// COMFYUI_SERVERS, BACKENDS_FILE and POST /admin/backends give it, and its stable id. Checking
// is pure and reports every problem; no problem quotes a credential.
import { createHash } from 'node:crypto';
import type { BackendAddress, Credentials } from '../comfy/address.js';
import { parseAddress } from '../comfy/address.js';
import { z } from 'zod';

export interface BackendSpec extends BackendAddress {
  labels: string[];
}

/** A backend's id: a short digest of its URL (without credentials), the same on every process and after a restart. */
export function backendId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 12);
}

/** What a label may be. */
export const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const LABEL_RULE = 'letters, digits, "_", "." or "-", starting with a letter or digit, at most 64';
const MAX_LABELS = 32;
/** A bearer token goes into a header as is: visible ASCII only. */
const TOKEN = /^[\x21-\x7e]{1,4096}$/;
/** Basic credentials are encoded, but control characters in them are a mistake. */
const CONTROL = /[\x00-\x1f\x7f]/;
const FIELDS = ['url', 'labels', 'token', 'username', 'password'];

export const SPEC_EXAMPLE = '{"url": "http://gpu1:8188", "labels": ["sdxl"]} (credentials: "user:password@" in the URL, "username" and "password", or "token")';

const unknownFields = (keys: readonly string[]) => `unknown field${keys.length > 1 ? 's' : ''} ${keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')} (known: ${FIELDS.join(', ')})`;
const URL_REQUIRED = '"url" is required: host:port or http(s)://host:port';
const LABELS = '"labels" must be a list of labels like ["sdxl", "video"]';
const TOKEN_RULE = '"token" must be a string of visible ASCII characters (no spaces), at most 4096';
const BASIC_RULE = '"username" and "password" must both be strings of at most 1024 characters without control characters';
const basic = z.string({ error: BASIC_RULE }).max(1024, { error: BASIC_RULE }).refine((v) => !CONTROL.test(v), { error: BASIC_RULE });

/**
 * A backend's fields, each held to its rule (the URL's form and the credentials given once are
 * checked by parseBackendSpec). Also the body of POST /admin/backends in the OpenAPI document.
 */
export const BackendFields = z.strictObject(
  {
    url: z.string({ error: URL_REQUIRED }).refine((v) => v.trim() !== '', { error: URL_REQUIRED }).meta({ description: '`host:port` or `http(s)://[user:password@]host:port`.', example: 'http://gpu1:8188' }),
    labels: z
      .array(z.string({ error: LABELS }).regex(LABEL, { error: (issue) => `label ${JSON.stringify(String(issue.input).slice(0, 70))} is not ${LABEL_RULE} characters` }), { error: LABELS })
      .refine((labels) => new Set(labels).size <= MAX_LABELS, { error: `at most ${MAX_LABELS} labels` })
      .optional()
      .meta({ description: 'Labels a workflow may ask for.', example: ['sdxl'] }),
    token: z.string({ error: TOKEN_RULE }).regex(TOKEN, { error: TOKEN_RULE }).optional().meta({ description: 'A bearer token the backend asks for (not with username and password).' }),
    username: basic.refine((v) => !v.includes(':'), { error: '"username" cannot contain ":" (Basic credentials separate the two with it)' }).optional().meta({ description: 'Basic credentials, with password.' }),
    password: basic.optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? unknownFields(issue.keys) : `must be an object like ${SPEC_EXAMPLE}`) },
);

/**
 * One backend as an object: `url` (`host:port` or `http(s)://[user:password@]host:port`),
 * optional `labels`, and optional credentials — `token` (Bearer) or `username` and `password`
 * (Basic) — given once. `where` prefixes each problem.
 */
export function parseBackendSpec(value: unknown, where: string): { spec?: BackendSpec; problems: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problems: [`${where} must be an object like ${SPEC_EXAMPLE}`] };
  const checked = BackendFields.safeParse(value);
  const issues = checked.success ? [] : checked.error.issues;
  // In the order a reader fixes them: unknown fields, the URL, credentials, labels.
  const said = (...names: string[]) => issues.filter((i) => names.includes(String(i.path[0] ?? ''))).map((i) => `${where}: ${i.message}`);
  const problems = [...said('', 'url')];
  const fields = value as Record<string, unknown>;
  let address: BackendAddress | undefined;
  if (typeof fields.url === 'string' && fields.url.trim() !== '') {
    const parsed = parseAddress(fields.url.trim());
    if (parsed.ok) address = parsed.address;
    else problems.push(`${where}: "url" ${parsed.problem}`);
  }
  const { token, username, password } = fields;
  if (token !== undefined && (username !== undefined || password !== undefined)) problems.push(`${where}: give either "token" (Bearer) or "username" and "password" (Basic), not both`);
  else {
    problems.push(...said('token', 'username', 'password'));
    if ((username === undefined) !== (password === undefined)) problems.push(`${where}: ${BASIC_RULE}`);
    if (address?.credentials && [token, username, password].some((v) => v !== undefined)) problems.push(`${where}: credentials are given twice, in "url" and as fields; give them once`);
  }
  problems.push(...said('labels'));
  if (!checked.success || problems.length || !address) return { problems: [...new Set(problems)] };
  const data = checked.data;
  const credentials: Credentials | undefined = data.token !== undefined ? { token: data.token } : data.username !== undefined ? { username: data.username, password: data.password! } : undefined;
  const spec: BackendSpec = { url: address.url, labels: [...new Set(data.labels ?? [])] };
  const given = credentials ?? address.credentials;
  if (given) spec.credentials = given;
  return { spec, problems };
}
