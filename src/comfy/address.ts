// Where one ComfyUI server is, and the credentials a proxy in front of it may ask for (ComfyUI
// itself has none). The URL without credentials is the backend's name everywhere: in job records,
// events, logs, answers and errors. Credentials only ever go into the Authorization header of
// requests to that server.

/** Basic (`username`, `password`) or Bearer (`token`). */
export type Credentials = { username: string; password: string } | { token: string };

export interface BackendAddress {
  /** `http(s)://host:port`, without credentials. */
  url: string;
  credentials?: Credentials;
}

export type ParsedAddress = { ok: true; address: BackendAddress } | { ok: false; problem: string };

/** The Authorization header value for these credentials. */
export function authorizationOf(credentials: Credentials): string {
  if ('token' in credentials) return `Bearer ${credentials.token}`;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

export function sameCredentials(a: Credentials | undefined, b: Credentials | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if ('token' in a || 'token' in b) return 'token' in a && 'token' in b && a.token === b.token;
  return a.username === b.username && a.password === b.password;
}

/** The user:password@ part of a URL-like text, so an entry can be quoted in a message. */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)@/i;

/** `text` with any `user:password@` replaced by `***@`: safe to show. */
export function hideCredentials(text: string): string {
  return text.replace(USERINFO, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/**
 * `host:port` or `http(s)://host:port[/]`, optionally with `user:password@` before the host
 * (Basic credentials; percent-encode `@ : /` in them). Bearer tokens have no URL form: they are
 * given as a `token` field (BACKENDS_FILE, POST /admin/backends). A problem never quotes the
 * credentials.
 */
export function parseAddress(entry: string): ParsedAddress {
  const shown = JSON.stringify(hideCredentials(entry));
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(entry)?.[0] ?? '';
  const rest = entry.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  let credentials: Credentials | undefined;
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon < 0) {
      return { ok: false, problem: `${shown}: credentials in a URL are user:password (Basic); give a bearer token as "token" instead` };
    }
    try {
      credentials = { username: decodeURIComponent(userinfo.slice(0, colon)), password: decodeURIComponent(userinfo.slice(colon + 1)) };
    } catch {
      return { ok: false, problem: `${shown}: the credentials are not valid percent-encoding` };
    }
    if (credentials.username === '' && credentials.password === '') return { ok: false, problem: `${shown}: the credentials before "@" are empty` };
  }
  const url = plainUrl(scheme + (at >= 0 ? rest.slice(at + 1) : rest));
  if (url === undefined) return { ok: false, problem: `${shown} is not host:port or http(s)://host:port` };
  return { ok: true, address: credentials ? { url, credentials } : { url } };
}

/** `host:port` or `http(s)://host:port[/]` (no credentials) → `http(s)://host:port`; undefined when malformed. */
function plainUrl(entry: string): string | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `http://${entry}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
  if (url.username || url.password || url.port === '0') return undefined;
  if (!/:\d+$/.test(url.host) && !/^https?:\/\/[^/]+:\d+\/?$/i.test(withScheme)) return undefined;
  return `${url.protocol}//${url.host}`;
}
