// Who is asking: an API key names a tenant, and a tenant owns its work.
//
// With API_KEYS set, every job, upload and result belongs to the tenant of the key that made it,
// and a clientId is a name inside that tenant's space. The admin token acts as the operator: it
// sees and may act on every tenant's work. Without keys the bridge is one open space (tenant "").
//
// A tenant is stored with the work it owns, so it must stay the same across restarts and key
// rotations: it is the key's name (`API_KEYS=name:key`), or for an unnamed key a short digest of
// the key (never the key itself, which must not reach logs, metrics or the store).
import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';

/** One configured API key and the tenant it stands for. */
export interface ApiKey {
  name: string;
  key: string;
}

/** The caller of an engine operation. */
export interface Principal {
  /** Owner of the work this caller makes and sees; "" in an open bridge. */
  tenant: string;
  /** The operator: sees and acts on every tenant's work. */
  admin: boolean;
}

/** An open bridge, and the engine's own actions (recovery, sweeps). */
export const OPEN: Principal = Object.freeze({ tenant: '', admin: false });
/** The operator in an open bridge, or one holding the admin token. */
export const OPERATOR: Principal = Object.freeze({ tenant: '', admin: true });

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The tenant of an unnamed key: stable, short, and says nothing usable about the key. */
export function keyDigestName(key: string): string {
  return `key-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/**
 * Parse API key entries: `key` or `name:key`, from API_KEYS (comma-separated) or a keys file
 * (one per line, `#` comments). Problems are returned in words that name `source`.
 */
export function parseApiKeys(entries: readonly string[], source: string): { keys: ApiKey[]; problems: string[] } {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? undefined : entry.slice(0, colon).trim();
    const key = colon < 0 ? entry : entry.slice(colon + 1).trim();
    if (name !== undefined && !NAME.test(name)) {
      problems.push(`${source} has a key named ${JSON.stringify(name.slice(0, 70))}; a name is 1–64 letters, digits or _ . - (name:key)`);
      continue;
    }
    if (key.length < 16) {
      problems.push(`${source} has a key${name ? ` (${name})` : ''} shorter than 16 characters; use long random keys`);
      continue;
    }
    keys.push({ name: name ?? keyDigestName(key), key });
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.key)) problems.push(`${source} lists the same key twice${k.name ? ` (${k.name})` : ''}`);
    else if (names.has(k.name)) problems.push(`${source} names two keys ${JSON.stringify(k.name)}`);
    seen.add(k.key);
    names.add(k.name);
  }
  return { keys, problems };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant time over every candidate: compare digests, so neither content nor length leaks. */
function find<T>(candidate: string, secrets: readonly { digest: Buffer; value: T }[]): T | undefined {
  const d = digest(candidate);
  let hit: T | undefined;
  for (const s of secrets) if (timingSafeEqual(d, s.digest)) hit = s.value;
  return hit;
}

/** Turns a credential into the principal it stands for. */
export class Keyring {
  private readonly keys: { digest: Buffer; value: string }[];
  private readonly admin: { digest: Buffer; value: true }[];

  constructor(apiKeys: readonly ApiKey[], adminToken: string | undefined) {
    this.keys = apiKeys.map((k) => ({ digest: digest(k.key), value: k.name }));
    this.admin = adminToken ? [{ digest: digest(adminToken), value: true }] : [];
  }

  /** No keys: the client API is one open space. */
  get openClients(): boolean {
    return this.keys.length === 0;
  }

  /** No admin token: operator actions are open. */
  get openOperator(): boolean {
    return this.admin.length === 0;
  }

  /**
   * The principal of a credential, or undefined when the client API needs a key and this is
   * none of them. The admin token is accepted wherever a key is.
   */
  principal(credential: string | undefined): Principal | undefined {
    if (credential && find(credential, this.admin)) return OPERATOR;
    if (this.keys.length === 0) return this.openOperator ? OPERATOR : OPEN;
    const tenant = credential ? find(credential, this.keys) : undefined;
    return tenant === undefined ? undefined : { tenant, admin: false };
  }

  /** Does this credential carry operator rights? */
  isAdmin(credential: string | undefined): boolean {
    if (this.admin.length === 0) return true;
    return credential !== undefined && find(credential, this.admin) !== undefined;
  }
}

/**
 * A tenant's own folder under a root: the root itself for the open space (so an open bridge keeps
 * its layout), `<root>/tenants/<name>` otherwise. Tenant names cannot leave it (see NAME).
 */
export function tenantDir(root: string, tenant: string): string {
  return tenant === '' ? root : path.join(root, 'tenants', tenant);
}

/**
 * The subfolder of a backend's input folder that a tenant's files are sent to. LoadImage lists
 * only the top of that folder, so one tenant's files never show up among another's choices.
 */
export function backendInputFolder(tenant: string): string {
  return tenant === '' ? '' : `bridge-tenant-${tenant}`;
}

/** A client of a door: a clientId is a name inside its tenant's space. */
export interface ClientRef {
  tenant: string;
  clientId: string;
}

/** One string per client, for maps (a newline is in neither a tenant name nor a clientId). */
export function clientKey(client: ClientRef): string {
  return client.tenant === '' ? client.clientId : `${client.tenant}\n${client.clientId}`;
}
