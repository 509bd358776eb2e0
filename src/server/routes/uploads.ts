// POST /upload: images a workflow will use. Each file part is checked by content and stored under
// a fresh name; the answer maps each part's identifier (its ori_file_id header, else its field
// name) to that name, which the client then passes as an input value.
import Router from '@koa/router';
import type { Engine } from '../../engine/index.js';
import { ClientError } from '../../engine/index.js';
import { callerOf, optionalClientId } from '../params.js';
import { receiveUpload } from '../../http/uploads.js';
import { checkImage } from '../../uploads/image-check.js';

const MAX_FILES = 32;

export function uploadRoutes(engine: Engine): Router {
  const router = new Router();
  router.post('/upload', async (ctx) => {
    optionalClientId(ctx); // validated when given; uploads are not tied to a client
    if (!ctx.is('multipart/form-data')) throw new ClientError(415, 'send the files as multipart/form-data (e.g. curl -F image=@photo.png)');
    const { uploads, config } = engine;
    // An upload belongs to the caller's tenant: another key cannot name it in a job.
    const { tenant } = callerOf(ctx);
    const { files } = await receiveUpload(ctx.req, {
      dir: uploads.incomingDir,
      maxFileBytes: config.uploadMaxBytes,
      maxTotalBytes: config.uploadMaxBytes,
      setting: 'UPLOAD_MAX_SIZE',
      maxFiles: MAX_FILES,
      maxFields: 32,
      maxFieldsBytes: 64 * 1024,
      allowEmptyFiles: false,
      // Our own name, never the client's: nothing a client sends can pick a path.
      newName: () => uploads.newIncomingName(),
      oriFileId: true,
    });
    const identifiers = new Map(files.map((f) => [f.newFilename, f.oriFileId || f.field || 'file']));
    if (files.length === 0) throw new ClientError(400, 'no file in the upload: send at least one file part');
    const ids = files.map((f) => identifiers.get(f.newFilename) ?? f.newFilename);
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (repeated.length) {
      await Promise.all(files.map((f) => uploads.discard(f.filepath)));
      throw new ClientError(400, `several files are named ${JSON.stringify(repeated[0])}: give each file its own field name or ori_file_id header, so each gets its own entry in the answer`);
    }

    const saved: Record<string, string> = {};
    const problems: string[] = [];
    const kept: string[] = [];
    for (const file of files) {
      const id = identifiers.get(file.newFilename) ?? file.newFilename;
      const check = await checkImage(file.filepath, { maxPixels: config.uploadMaxPixels });
      if (!check.ok) {
        await uploads.discard(file.filepath);
        problems.push(`${JSON.stringify(file.originalFilename ?? id)} ${check.reason}`);
        continue;
      }
      const result = await uploads.accept(file.filepath, file.newFilename, tenant);
      if (!result) {
        problems.push(`${JSON.stringify(file.originalFilename ?? id)} is not an image (PNG, JPEG, GIF, WebP, BMP or TIFF by content)`);
        continue;
      }
      kept.push(result.name);
      saved[id] = result.name;
    }
    if (problems.length) {
      // All or nothing: a partly accepted upload would leave the client guessing.
      await Promise.all(kept.map((n) => uploads.remove(n, tenant)));
      throw new ClientError(400, problems.join('; '));
    }
    ctx.body = saved;
  });
  return router;
}
