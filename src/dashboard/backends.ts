// The dashboard's one reading of the pool: what the engine says of each backend. Kept in one
// place so that the rest of the dashboard does not depend on how the engine answers it.
import type { BackendInfo, Engine } from '../engine/index.js';

export type { BackendInfo, BackendState } from '../engine/index.js';

/** Each backend as the engine sees it: the pool in its order, then removed ones still finishing jobs. */
export function backendsOf(engine: Engine): BackendInfo[] {
  return engine.backendsInfo();
}

/** One backend by its id. */
export function backendById(engine: Engine, id: string): BackendInfo | undefined {
  return engine.backendInfo(id);
}
