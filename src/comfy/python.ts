// Python value semantics that leak into ComfyUI's wire format: json.dumps spacing,
// str()/repr() in error messages, and the int()/float()/str()/bool() input coercion.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** An exception as Python would raise it; its type name ends up in error payloads. */
export class PyError extends Error {
  constructor(
    readonly pyType: string,
    message: string,
    readonly traceback: string[] = [],
  ) {
    super(message);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'list';
  return 'dict';
}

/** repr() of a float: shortest round-trip digits, exponent outside 1e-4..1e16, always a dot or exponent. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = n.toExponential().split('e');
  const exp = Number(expText);
  const negative = mantissa!.startsWith('-');
  const digits = mantissa!.replace('-', '').replace('.', '');
  let body: string;
  if (exp < -4 || exp >= 16) {
    const frac = digits.slice(1);
    body = `${digits[0]}${frac ? `.${frac}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp < 0) {
    body = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    body = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return negative ? `-${body}` : body;
}

/** JSON numbers lose the int/float distinction; whole numbers are treated as ints. */
function numberRepr(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  return pyFloatRepr(n);
}

function stringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return numberRepr(value);
  if (typeof value === 'string') return stringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (isPlainObject(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${stringRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** str(): like repr() except that a top-level string is itself. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return out + '"';
}

/** json.dumps() with its defaults: ", " and ": " separators, ASCII-only output. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return numberRepr(value);
  }
  if (typeof value === 'string') return jsonString(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (Buffer.isBuffer(value)) return 'null';
  if (typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || typeof v === 'function') continue;
      parts.push(`${jsonString(k)}: ${pyJson(v)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  return 'null';
}

/** Python truthiness, as bool() applies it. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

const INT_LITERAL = /^[+-]?\d+(_\d+)*$/;
const FLOAT_LITERAL = /^[+-]?((\d+(_\d+)*)?\.?\d+(_\d+)*|\d+(_\d+)*\.)([eE][+-]?\d+(_\d+)*)?$/;
const FLOAT_SPECIAL = /^[+-]?(inf|infinity|nan)$/i;

export function pyInt(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw new PyError('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(value)) throw new PyError('OverflowError', 'cannot convert float infinity to integer');
    return Math.trunc(value);
  }
  if (typeof value === 'string') {
    const text = value.trim();
    if (INT_LITERAL.test(text)) return Number(text.replaceAll('_', ''));
    throw new PyError('ValueError', `invalid literal for int() with base 10: ${stringRepr(value)}`);
  }
  throw new PyError(
    'TypeError',
    `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(value)}'`,
  );
}

export function pyFloat(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (FLOAT_LITERAL.test(text)) return Number(text.replaceAll('_', ''));
    if (FLOAT_SPECIAL.test(text)) {
      const negative = text.startsWith('-');
      if (/nan/i.test(text)) return NaN;
      return negative ? -Infinity : Infinity;
    }
    throw new PyError('ValueError', `could not convert string to float: ${stringRepr(value)}`);
  }
  throw new PyError('TypeError', `float() argument must be a string or a real number, not '${pyTypeName(value)}'`);
}

/** os.path.splitext: a leading dot does not start an extension. */
export function pySplitext(name: string): [string, string] {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  if (dot <= slash + 1) return [name, ''];
  const base = name.slice(slash + 1, dot);
  if (/^\.*$/.test(base)) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}
