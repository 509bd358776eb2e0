// Reading GET /metrics as Prometheus would: the exposition text through a text-format parser.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Every family's declared type (counter, gauge, histogram, …), by name. */
  types: Map<string, string>;
  /** Every sample, histograms as their own _bucket, _sum and _count samples. */
  samples: Sample[];
  text: string;
}

/**
 * Parse an exposition. The parser folds the samples of a histogram into one set of buckets and
 * drops their labels when the histogram has labels; so each histogram is also read with its type
 * declared untyped, which gives its raw _bucket/_sum/_count samples with every label.
 */
export function parseExposition(text: string): Scrape {
  const types = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f.type.toLowerCase()]));
  const raw = text
    .split('\n')
    .map((line) => (line.startsWith('# TYPE ') && line.endsWith(' histogram') ? `${line.slice(0, -' histogram'.length)} untyped` : line))
    .join('\n');
  const samples: Sample[] = [];
  for (const family of parsePrometheusTextFormat(raw)) {
    for (const m of family.metrics) samples.push({ name: family.name, labels: m.labels ?? {}, value: Number(m.value) });
  }
  return { types, samples, text };
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** The samples of `name` whose labels include `labels`. */
export function select(s: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
}

/** Their sum: 0 when there is none. */
export function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return select(s, name, labels).reduce((sum, x) => sum + x.value, 0);
}
