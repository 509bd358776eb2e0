// The live feed, read with fetch rather than EventSource: EventSource cannot send the admin token
// as a header, and a token in the URL would end up in logs. Reconnects with backoff; a stream
// silent for longer than three heartbeats is taken as lost.

const SILENCE_MS = 45_000;

/**
 * @param {object} options
 * @param {string} options.url
 * @param {() => string} options.token  the admin token now ('' for none)
 * @param {(event: string, data: any) => void} options.onEvent
 * @param {(status: 'connecting' | 'live' | 'reconnecting' | 'denied', detail?: string) => void} options.onStatus
 */
export function openFeed({ url, token, onEvent, onStatus }) {
  let stopped = false;
  /** @type {AbortController | undefined} */
  let current;
  let retry = 0;
  let immediate = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let wake;
  /** @type {((value?: unknown) => void) | undefined} */
  let wakeUp;

  async function once() {
    const abort = new AbortController();
    current = abort;
    let silence = setTimeout(() => abort.abort(), SILENCE_MS);
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(), SILENCE_MS);
    };
    try {
      const t = token();
      const res = await fetch(url, { headers: t ? { Authorization: `Bearer ${t}` } : {}, signal: abort.signal, cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        const body = await res.json().catch(() => ({}));
        onStatus('denied', body.detail ?? `refused (${res.status})`);
        return 'denied';
      }
      if (!res.ok || !res.body) throw new Error(`the feed answered ${res.status}`);
      onStatus('live');
      retry = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        alive();
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') onEvent(event, JSON.parse(data));
        }
      }
    } catch {
      if (stopped) return 'stopped';
    } finally {
      clearTimeout(silence);
    }
    return 'lost';
  }

  let looping = false;
  async function loop() {
    looping = true;
    try {
      await run();
    } finally {
      looping = false;
    }
  }

  async function run() {
    while (!stopped) {
      immediate = false;
      onStatus(retry === 0 ? 'connecting' : 'reconnecting');
      const outcome = await once();
      if (stopped || outcome === 'denied') return;
      if (immediate) continue;
      onStatus('reconnecting');
      retry++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(retry, 5)) * (0.75 + Math.random() / 2);
      await new Promise((resolve) => {
        wakeUp = resolve;
        wake = setTimeout(resolve, delay);
      });
    }
  }

  void loop();
  return {
    /** Drop the stream and open it again now (e.g. the page fell out of step). */
    restart() {
      if (!looping) {
        // It stopped at a refusal: try again (with the token now given).
        retry = 0;
        void loop();
        return;
      }
      immediate = true;
      current?.abort();
      clearTimeout(wake);
      wakeUp?.();
    },
    close() {
      stopped = true;
      current?.abort();
      clearTimeout(wake);
    },
  };
}
