// ComfyUI's origin-only middleware: a browser page on another origin must not
// be able to drive a backend listening on loopback.
import { isIP } from 'node:net';

interface NetLoc {
  netloc: string;
  hostname: string | null;
  port: number | null;
}

/** The parts of urllib.parse's netloc handling that the check relies on. */
function splitNetloc(netloc: string): NetLoc {
  const hostPort = netloc.slice(netloc.lastIndexOf('@') + 1);
  let hostname: string;
  let portText: string | null = null;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    hostname = close < 0 ? hostPort.slice(1) : hostPort.slice(1, close);
    const rest = close < 0 ? '' : hostPort.slice(close + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(':');
    hostname = colon < 0 ? hostPort : hostPort.slice(0, colon);
    if (colon >= 0) portText = hostPort.slice(colon + 1);
  }
  const port = portText !== null && /^\d+$/.test(portText) ? Number(portText) : null;
  return { netloc, hostname: hostname === '' ? null : hostname.toLowerCase(), port };
}

function isLoopback(host: string | null): boolean {
  if (host === null) return false;
  if (host === 'localhost') return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host);
  return false;
}

/** True when ComfyUI would answer 403: loopback Host and an Origin naming a different host (or port). */
export function originRejected(hostHeader: string | undefined, originHeader: string | undefined): boolean {
  if (hostHeader === undefined || originHeader === undefined) return false;
  let hostDomain: string | null = hostHeader.toLowerCase();
  const originNetloc = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(originHeader)?.[1] ?? '';
  const origin = splitNetloc(originNetloc.toLowerCase());
  let originDomain: string | null = origin.netloc;
  const host = splitNetloc(hostDomain);
  const loopback = isLoopback(host.hostname);
  // A side without a port is compared by host name only.
  if (origin.port === null) hostDomain = host.hostname;
  if (host.port === null) originDomain = origin.hostname;
  return loopback && !!hostDomain && !!originDomain && hostDomain !== originDomain;
}
