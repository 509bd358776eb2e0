// @ts-check
// Sparklines as inline SVG paths: pure, so the page sets one attribute per chart per update.

/**
 * The `d` of a line through the values, scaled into width × height (y grows downwards). A null
 * value is a gap. `max` is the value drawn at the top (at least the largest value, and never 0).
 * @param {(number | null)[]} values
 * @param {number} width
 * @param {number} height
 * @param {number} [max]
 * @returns {string}
 */
export function sparkPath(values, width, height, max) {
  const n = values.length;
  if (n === 0) return '';
  let top = max ?? 0;
  for (const v of values) if (v !== null && v > top) top = v;
  if (!(top > 0)) top = 1;
  const step = n > 1 ? width / (n - 1) : 0;
  let d = '';
  let drawing = false;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      drawing = false;
      continue;
    }
    const x = round(i * step);
    const y = round(height - (Math.max(0, v) / top) * height);
    d += `${drawing ? 'L' : 'M'}${x} ${y}`;
    drawing = true;
  }
  return d;
}

/**
 * The same line closed down to the baseline, for a filled area (gaps left out).
 * @param {(number | null)[]} values
 * @param {number} width
 * @param {number} height
 * @param {number} [max]
 */
export function sparkArea(values, width, height, max) {
  const line = sparkPath(values.map((v) => v ?? 0), width, height, max);
  // The line starts at x = 0 (no gaps): drop to the baseline at both ends.
  return line === '' ? '' : `M0 ${height}L${line.slice(1)}L${width} ${height}Z`;
}

/** @param {number} n */
function round(n) {
  return Math.round(n * 10) / 10;
}
