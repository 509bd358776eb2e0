// A tiny method + path router with {param} segments. HEAD is served by GET routes.
import type { SimRequest } from './request.js';
import type { SimResponse } from './response.js';

export type Handler = (req: SimRequest) => SimResponse | Promise<SimResponse>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export type RouteMatch = { handler: Handler; params: Record<string, string> } | { allowed: string[] } | null;

export class Router {
  private readonly routes: Route[] = [];

  get(path: string, handler: Handler): this {
    return this.add('GET', path, handler);
  }

  post(path: string, handler: Handler): this {
    return this.add('POST', path, handler);
  }

  private add(method: string, path: string, handler: Handler): this {
    this.routes.push({ method, segments: path.split('/').slice(1), handler });
    return this;
  }

  /** The handler for a request, the allowed methods if only the method is wrong, or null. */
  match(method: string, path: string): RouteMatch {
    const wanted = method === 'HEAD' ? 'GET' : method;
    const parts = path.split('/').slice(1);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === wanted) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { allowed } : null;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith('{') && p.endsWith('}')) {
      if (part === '') return null;
      try {
        params[p.slice(1, -1)] = decodeURIComponent(part);
      } catch {
        return null;
      }
    } else if (p !== part) {
      return null;
    }
  }
  return params;
}
