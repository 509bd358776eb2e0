// How many websockets a client and a key may hold open, over every door: each socket holds memory
// and a share of every broadcast, so nothing a client does may open them without bound.
import type { ClientRef } from './tenants.js';
import { clientKey } from './tenants.js';

export interface QuotaLimits {
  /** Open sockets of one client (one clientId in one tenant) on one door: MAX_SOCKETS_PER_CLIENT. */
  perClient: number;
  /** Open sockets of one API key over every door and client: MAX_SOCKETS_PER_KEY. Not counted for an open bridge. */
  perKey: number;
}

/** Granted: call to give the place back when the socket closes. Refused: why, in words. */
export type QuotaAnswer = { ok: true; release: () => void } | { ok: false; reason: string };

export class SocketQuota {
  private readonly byClient = new Map<string, number>();
  private readonly byKey = new Map<string, number>();
  private readonly byDoor = new Map<string, number>();

  constructor(private readonly limits: QuotaLimits) {}

  /** Take a place for one socket of `client` on `door`, or say why not. */
  acquire(door: string, client: ClientRef): QuotaAnswer {
    const clientSlot = `${door}\n${clientKey(client)}`;
    const held = this.byClient.get(clientSlot) ?? 0;
    if (held >= this.limits.perClient) {
      return { ok: false, reason: `clientId ${client.clientId} already has ${held} open websockets (MAX_SOCKETS_PER_CLIENT); close one first` };
    }
    const keyed = client.tenant !== '';
    const ofKey = this.byKey.get(client.tenant) ?? 0;
    if (keyed && ofKey >= this.limits.perKey) {
      return { ok: false, reason: `this API key already has ${ofKey} open websockets (MAX_SOCKETS_PER_KEY); close one first` };
    }
    this.byClient.set(clientSlot, held + 1);
    if (keyed) this.byKey.set(client.tenant, ofKey + 1);
    this.byDoor.set(door, (this.byDoor.get(door) ?? 0) + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        decrement(this.byClient, clientSlot);
        if (keyed) decrement(this.byKey, client.tenant);
        decrement(this.byDoor, door);
      },
    };
  }

  /** Open sockets on each door that has any. */
  openByDoor(): ReadonlyMap<string, number> {
    return this.byDoor;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 1) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
