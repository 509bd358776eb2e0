// Form bodies as aiohttp's request.post() returns them: multipart parts
// (files or plain values) or urlencoded values; the first field of a name wins.

export type FormField = { kind: 'value'; value: string } | { kind: 'file'; filename: string; data: Buffer; contentType: string };

function headerParam(header: string, name: string): string | null {
  const star = new RegExp(`;\\s*${name}\\*\\s*=\\s*([^;]*)`, 'i').exec(header);
  if (star) {
    const value = star[1]!.trim();
    const quote = value.indexOf("''");
    try {
      return decodeURIComponent(quote >= 0 ? value.slice(quote + 2) : value);
    } catch {
      return value;
    }
  }
  const m = new RegExp(`;\\s*${name}\\s*=\\s*("((?:[^"\\\\]|\\\\.)*)"|[^;]*)`, 'i').exec(header);
  if (!m) return null;
  return m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[1]!.trim();
}

function parseMultipart(body: Buffer, boundary: string): Map<string, FormField> {
  const fields = new Map<string, FormField>();
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    const headerStart = body.indexOf('\r\n', pos);
    if (headerStart < 0) break;
    const headerEnd = body.indexOf('\r\n\r\n', headerStart);
    if (headerEnd < 0) break;
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) break;
    const headers = new Map<string, string>();
    for (const line of body.toString('utf8', headerStart + 2, headerEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const disposition = headers.get('content-disposition') ?? '';
    const name = headerParam(disposition, 'name');
    const filename = headerParam(disposition, 'filename');
    const data = body.subarray(headerEnd + 4, next);
    if (name !== null && !fields.has(name)) {
      fields.set(
        name,
        filename !== null
          ? { kind: 'file', filename, data: Buffer.from(data), contentType: headers.get('content-type') ?? 'application/octet-stream' }
          : { kind: 'value', value: data.toString('utf8') },
      );
    }
    pos = next + 2;
  }
  return fields;
}

export function parseForm(contentType: string, body: Buffer): Map<string, FormField> {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'multipart/form-data') {
    const boundary = headerParam(contentType, 'boundary');
    return boundary ? parseMultipart(body, boundary) : new Map();
  }
  if (type === 'application/x-www-form-urlencoded') {
    const fields = new Map<string, FormField>();
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) if (!fields.has(k)) fields.set(k, { kind: 'value', value: v });
    return fields;
  }
  return new Map();
}
