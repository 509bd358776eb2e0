// What names a backend of the pool — its address (URL and credentials) and its labels — as
// COMFYUI_SERVERS, BACKENDS_FILE and POST /admin/backends give it, and its stable id. Checking
// is pure and reports every problem; no problem quotes a credential.
import { createHash } from 'node:crypto';
import type { BackendAddress, Credentials } from '../comfy/address.js';
import { parseAddress } from '../comfy/address.js';

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

/**
 * One backend as an object: `url` (`host:port` or `http(s)://[user:password@]host:port`),
 * optional `labels`, and optional credentials — `token` (Bearer) or `username` and `password`
 * (Basic) — given once. `where` prefixes each problem.
 */
export function parseBackendSpec(value: unknown, where: string): { spec?: BackendSpec; problems: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problems: [`${where} must be an object like ${SPEC_EXAMPLE}`] };
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(fields).filter((k) => !FIELDS.includes(k));
  if (unknown.length) problems.push(`${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')} (known: ${FIELDS.join(', ')})`);

  let address: BackendAddress | undefined;
  if (typeof fields.url !== 'string' || fields.url.trim() === '') {
    problems.push(`${where}: "url" is required: host:port or http(s)://host:port`);
  } else {
    const parsed = parseAddress(fields.url.trim());
    if (parsed.ok) address = parsed.address;
    else problems.push(`${where}: "url" ${parsed.problem}`);
  }

  let credentials: Credentials | undefined;
  const { token, username, password } = fields;
  if (token !== undefined && (username !== undefined || password !== undefined)) {
    problems.push(`${where}: give either "token" (Bearer) or "username" and "password" (Basic), not both`);
  } else if (token !== undefined) {
    if (typeof token === 'string' && TOKEN.test(token)) credentials = { token };
    else problems.push(`${where}: "token" must be a string of visible ASCII characters (no spaces), at most 4096`);
  } else if (username !== undefined || password !== undefined) {
    const bad = (v: unknown) => typeof v !== 'string' || v.length > 1024 || CONTROL.test(v);
    if (bad(username) || bad(password)) problems.push(`${where}: "username" and "password" must both be strings of at most 1024 characters without control characters`);
    else if ((username as string).includes(':')) problems.push(`${where}: "username" cannot contain ":" (Basic credentials separate the two with it)`);
    else credentials = { username: username as string, password: password as string };
  }
  if (credentials && address?.credentials) problems.push(`${where}: credentials are given twice, in "url" and as fields; give them once`);

  let labels: string[] = [];
  if (fields.labels !== undefined) {
    if (!Array.isArray(fields.labels) || fields.labels.some((l) => typeof l !== 'string')) {
      problems.push(`${where}: "labels" must be a list of labels like ["sdxl", "video"]`);
    } else {
      const bad = (fields.labels as string[]).filter((l) => !LABEL.test(l));
      if (bad.length) problems.push(`${where}: label ${JSON.stringify(bad[0].slice(0, 70))} is not ${LABEL_RULE} characters`);
      labels = [...new Set(fields.labels as string[])];
      if (labels.length > MAX_LABELS) problems.push(`${where}: at most ${MAX_LABELS} labels`);
    }
  }
  if (problems.length || !address) return { problems };
  const spec: BackendSpec = { url: address.url, labels };
  const given = credentials ?? address.credentials;
  if (given) spec.credentials = given;
  return { spec, problems };
}
