// Response values returned by route handlers, with aiohttp's default bodies.
import type { ByteSegments } from '../bytes.js';
import { pyJson } from '../../comfy/python.js';

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | ByteSegments;
}

/** web.json_response: Python's json.dumps spacing. */
export function json(value: unknown, status = 200): SimResponse {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: pyJson(value) };
}

/** web.Response(status=N) with no body. */
export function empty(status = 200): SimResponse {
  return { status, headers: { 'Content-Type': 'application/octet-stream' }, body: '' };
}

export function text(body: string, status: number): SimResponse {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body };
}

export const serverError = (): SimResponse => text('500 Internal Server Error\n\nServer got itself in trouble', 500);
export const notFound = (): SimResponse => text('404: Not Found', 404);
