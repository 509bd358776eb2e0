// Read-only information endpoints: system_stats, object_info, features, models.
import { freemem, totalmem } from 'node:os';
import type { BackendContext } from '../context.js';
import type { Router } from '../http/router.js';
import { empty, json, text } from '../http/response.js';

/** Model folder keys of a stock install (folder_paths.folder_names_and_paths). */
const MODEL_FOLDERS = [
  'checkpoints', 'configs', 'loras', 'vae', 'text_encoders', 'diffusion_models', 'clip_vision', 'style_models',
  'embeddings', 'diffusers', 'vae_approx', 'controlnet', 'gligen', 'upscale_models', 'custom_nodes', 'hypernetworks',
  'photomaker', 'classifiers', 'model_patches', 'audio_encoders',
];

const INDEX_HTML = '<!doctype html><title>ComfyUI</title><p>Simulated ComfyUI backend.</p>\n';

export function serverFeatures(ctx: BackendContext): Record<string, unknown> {
  return { supports_preview_metadata: true, max_upload_size: ctx.options.maxUploadBytes };
}

export function infoRoutes(router: Router, ctx: BackendContext): void {
  router.get('/', () => ({ status: 200, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }, body: INDEX_HTML }));

  router.get('/system_stats', () => {
    const ramTotal = totalmem();
    const ramFree = freemem();
    return json({
      system: {
        os: 'posix',
        ram_total: ramTotal,
        ram_free: ramFree,
        comfyui_version: ctx.options.version,
        required_frontend_version: '1.27.10',
        installed_templates_version: '0.1.95',
        required_templates_version: '0.1.95',
        python_version: '3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]',
        pytorch_version: '1.13.1',
        embedded_python: false,
        argv: ['main.py', '--cpu', '--listen', ctx.address.host, '--port', String(ctx.address.port), '--sim-name', ctx.options.name],
      },
      devices: [
        {
          name: 'cpu',
          type: 'cpu',
          index: null,
          vram_total: ramTotal,
          vram_free: ramFree,
          torch_vram_total: ramTotal,
          torch_vram_free: ramFree,
        },
      ],
    });
  });

  router.get('/object_info', () => json(ctx.registry.allObjectInfo(ctx.env)));
  router.get('/object_info/{node_class}', (req) => {
    const info = ctx.registry.objectInfo(req.params.node_class!, ctx.env);
    return json(info ? { [req.params.node_class!]: info } : {});
  });

  router.get('/features', () => json(serverFeatures(ctx)));
  router.get('/embeddings', () => json([]));
  router.get('/extensions', () => json([]));
  // Folders an extra_model_paths.yaml adds are listed after the stock ones.
  const folders = () => [...MODEL_FOLDERS, ...Object.keys(ctx.options.models).filter((f) => !MODEL_FOLDERS.includes(f))];
  router.get('/models', () => json(folders()));
  router.get('/models/{folder}', (req) => {
    const folder = req.params.folder!;
    if (!folders().includes(folder)) return empty(404);
    return json(folder === 'checkpoints' ? [...ctx.options.checkpoints] : [...(ctx.options.models[folder] ?? [])]);
  });
  // No simulated model file carries safetensors metadata.
  router.get('/view_metadata/{folder_name}', () => empty(404));

  router.get('/ws', () => text('No WebSocket UPGRADE hdr: None\n Can "Upgrade" only to "WebSocket".', 400));
}
