// mimetypes.guess_type for the files a ComfyUI backend serves.
const TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  ico: 'image/vnd.microsoft.icon',
  json: 'application/json',
  txt: 'text/plain',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  wav: 'audio/x-wav',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  glb: 'model/gltf-binary',
  html: 'text/html',
  js: 'text/javascript',
  css: 'text/css',
};

/** Types /view refuses to serve inline, so a stored page cannot run in the backend's origin. */
const FORCED_DOWNLOAD = new Set(['text/html', 'text/html-sandboxed', 'application/xhtml+xml', 'text/javascript', 'text/css']);

export function viewContentType(filename: string): string {
  const dot = filename.lastIndexOf('.');
  const type = dot < 0 ? undefined : TYPES[filename.slice(dot + 1).toLowerCase()];
  if (!type || FORCED_DOWNLOAD.has(type)) return 'application/octet-stream';
  return type;
}
