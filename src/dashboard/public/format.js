// @ts-check
// How figures are written on the page.

/**
 * Seconds as a short duration: "850 ms", "12 s", "3 m 20 s", "1 h 05 m".
 * @param {number | null | undefined} seconds
 */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 10) return `${(Math.round(s * 10) / 10).toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m} m ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  }
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

/**
 * A job id as rows show it: its last 8 characters (uuid v7 ids share their leading time bits).
 * @param {string} id
 */
export function shortId(id) {
  return id.length > 8 ? id.slice(-8) : id;
}

/**
 * 0–1 as a percentage.
 * @param {number | undefined} fraction
 */
export function percent(fraction) {
  if (fraction === undefined || !Number.isFinite(fraction)) return '';
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/**
 * Who owns a job: "tenant / client", or the client alone in an open bridge.
 * @param {string} tenant
 * @param {string} clientId
 */
export function owner(tenant, clientId) {
  return tenant ? `${tenant} / ${clientId}` : clientId;
}

/**
 * A clock time, HH:MM:SS in the page's time zone.
 * @param {number} ms
 */
export function clock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
