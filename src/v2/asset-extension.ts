// Asset references in a graph submitted to the v2 door (POST /api/v2/jobs), as one of the door's
// job extensions: before the graph is validated, each core/ASSET reference is resolved for the
// submitting key (422 missing_asset for any that is not its asset) and replaced by an input the
// bridge sends to whichever backend runs the job; validation takes those inputs as files.
import type { ComfyPrompt } from '../comfy/protocol.js';
import type { Engine, Principal } from '../engine/index.js';
import { assetsOf, isAssetInput } from './assets.js';

/** The part of a job request this extension reads and rewrites. */
export interface GraphRequest {
  readonly who: Principal;
  /** The graph to run; absent for a curated workflow, which has no asset references. */
  prompt?: ComfyPrompt;
  /** Input files the job sends to its backend. */
  uploads: string[];
}

export function assetReferences(engine: Engine) {
  const assets = assetsOf(engine);
  return {
    name: 'assets',
    prepare(request: GraphRequest): undefined {
      if (!request.prompt) return undefined;
      const resolved = assets.resolveAssets(request.prompt, request.who.tenant);
      request.prompt = resolved.prompt;
      request.uploads.push(...resolved.uploads.filter((ref) => !request.uploads.includes(ref)));
      return undefined;
    },
    /** A value LoadImage may take although no backend lists it yet: the bridge sends the file along. */
    stored: (value: string) => isAssetInput(value),
  };
}
