// Credentials a proxy in front of ComfyUI may ask for (ComfyUI has none of its own): with them
// set, an HTTP request or websocket upgrade that does not carry them gets 401, whatever it asks.

/** Basic (`username`, `password`) or Bearer (`token`). */
export type SimCredentials = { username: string; password: string } | { token: string };

/** Does this Authorization header carry the credentials? Always, when none are required. */
export function authorized(header: string | undefined, required: SimCredentials | undefined): boolean {
  if (required === undefined) return true;
  if (header === undefined) return false;
  const m = /^(\S+)\s+(\S+)\s*$/.exec(header);
  if (!m) return false;
  const [, scheme, value] = m;
  if ('token' in required) return scheme.toLowerCase() === 'bearer' && value === required.token;
  if (scheme.toLowerCase() !== 'basic') return false;
  return Buffer.from(value, 'base64').toString('utf8') === `${required.username}:${required.password}`;
}

/** The WWW-Authenticate header of a 401. */
export function challenge(required: SimCredentials): string {
  return 'token' in required ? 'Bearer realm="comfyui"' : 'Basic realm="comfyui"';
}
