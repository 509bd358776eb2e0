// Times a cheap GET every 20 ms from a process of its own, so the figures say how quickly the
// bridge answers, not how busy the process sending the storm is. Prints the latencies (ms) as
// one JSON line when its standard input closes.
const [url, key] = process.argv.slice(2);
const latencies = [];
let running = true;
process.stdin.resume();
process.stdin.on('end', () => (running = false));
while (running) {
  const t = performance.now();
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    await res.arrayBuffer();
    latencies.push(performance.now() - t);
  } catch {
    latencies.push(Number.POSITIVE_INFINITY);
  }
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(`${JSON.stringify(latencies.map((ms) => (Number.isFinite(ms) ? ms : -1)))}\n`);
