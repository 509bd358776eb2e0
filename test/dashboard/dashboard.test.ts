// The dashboard in a real browser (headless Chromium) over a real bridge and simulated backends:
// the operator types the admin token, watches a job's progress and preview change live, drains a
// backend and sees it take no new work; and the page stays small with 1,000 waiting jobs and 50
// backends. The page must log no error.
import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, engineUntil, postJson, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { launchBrowser, pageErrors, screenshot } from './browser.js';

jest.setTimeout(180_000);

// Functions given to page.waitForFunction run in the page; these tests compile without the DOM
// library, so the little of it they use is declared here.
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selectors: string): PageElement | null;
}
declare const document: { getElementById(id: string): PageElement | null; querySelectorAll(selectors: string): Iterable<PageElement> };

const ADMIN = 'admin-token-0123456789';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** Open the dashboard and connect with the admin token, as an operator would. */
async function openDashboard(bridge: TestBridge, viewport = { width: 1440, height: 900 }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const errors = pageErrors(page);
  await page.goto(`${bridge.url}/dashboard`);
  // Locked until the token is given.
  await page.locator('#denied').waitFor({ state: 'visible' });
  expect(await page.textContent('#connection')).toBe('locked');
  await page.fill('#token', ADMIN);
  await page.click('#token-form button[type=submit]');
  await page.locator('#connection[data-status=live]').waitFor();
  expect(await page.isHidden('#denied')).toBe(true);
  return { page, errors };
}

/** The row of the backend at this simulator. */
function backendRow(page: Page, sim: ComfySimulator) {
  return page.locator('#backend-list .vrow').filter({ has: page.locator('[data-part=url]', { hasText: `:${sim.port}` }) });
}

describe('the dashboard, live', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    // Slow steps, so a job runs for seconds and sends a preview on each.
    sims = await startSims(3, { stepMs: 250, previews: true });
    bridge = await startBridge(
      sims.map((s) => s.url),
      { ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0' },
    );
    await backendsUp(bridge);
  });
  afterAll(async () => {
    await bridge.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('shows a job\'s progress and preview change, and drains a backend, which then takes no new work', async () => {
    const { page, errors } = await openDashboard(bridge);
    await page.locator('#backend-list .vrow').nth(2).waitFor();

    const submit = (clientId: string, seed: number) =>
      postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img', '6/text': 'a lighthouse at dusk', '3/seed': seed });
    expect((await submit('dash-live-0001', 1)).status).toBe(200);
    const [job] = bridge.engine.jobsOf('dash-live-0001');

    // The job's row: its progress and preview move while it runs.
    const jobRow = page.locator('#backend-list .vrow').filter({ has: page.locator(`[data-part=job][title="${job.id}"]`) });
    await jobRow.locator('[data-part=preview][src^="data:image/"]').waitFor();
    const first = { src: await jobRow.locator('[data-part=preview]').getAttribute('src'), step: await jobRow.locator('[data-part=step]').textContent() };
    expect(first.step).toMatch(/%/);
    await page.waitForFunction(
      ({ id, src, step }) => {
        const row = [...document.querySelectorAll('#backend-list .vrow')].find((r) => r.querySelector(`[data-part=job][title="${id}"]`));
        const src2 = row?.querySelector('[data-part=preview]')?.getAttribute('src');
        const text = row?.querySelector('[data-part=step]')?.textContent;
        return src2 !== undefined && src2 !== null && src2 !== src && text !== step;
      },
      { id: job.id, src: first.src, step: first.step },
    );

    // Drain the backend that runs it: it finishes that job and takes nothing new.
    const busy = sims.find((s) => bridge.engine.get(job.id)?.backend === s.url)!;
    const others = sims.filter((s) => s !== busy);
    const prompts = (list: ComfySimulator[]) => list.reduce((n, s) => n + s.stats.prompts, 0);
    const row = backendRow(page, busy);
    await row.locator('button[data-action=toggle-drain]').click();
    await row.locator('[data-part=state]', { hasText: 'draining' }).waitFor();
    expect(await row.getAttribute('data-state')).toBe('draining');
    expect(await row.locator('button[data-action=toggle-drain]').textContent()).toBe('Resume');
    expect(await page.textContent('#backends-draining')).toBe('1');

    const before = { busy: busy.stats.prompts, others: prompts(others) };
    for (let i = 0; i < 3; i++) expect((await submit(`dash-after-${i}000`, 10 + i)).status).toBe(200);
    // And a job that fails: the page says why.
    expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=dash-fails-0000`, { workflow: 'fail.json', '1/color': 5 })).status).toBe(200);
    await engineUntil(bridge.engine, () => bridge.engine.unfinished() === 0);
    expect(bridge.engine.get(job.id)?.state).toBe('completed');
    expect(busy.stats.prompts).toBe(before.busy);
    expect(prompts(others)).toBe(before.others + 4);
    const problem = page.locator('#problem-list .vrow[data-kind=failed]');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(/TestSyncError.*dash-fails-0000/s);

    // Throughput counts them.
    await page.waitForFunction(() => Number(document.getElementById('throughput')?.textContent) >= 5);

    // Resumed, it is up again.
    await row.locator('button[data-action=toggle-drain]').click();
    await row.locator('[data-part=state]', { hasText: 'up' }).waitFor();

    // With speeds learned, waiting jobs get estimates: when they start and when they are done.
    for (let i = 0; i < 6; i++) expect((await submit(`dash-more-${i}000`, 20 + i)).status).toBe(200);
    const head = page.locator('#queue-list .vrow').filter({ has: page.locator('[data-part=pos]', { hasText: /^1$/ }) });
    await head.locator('[data-part=eta]', { hasText: /\d.*·.*\d/ }).waitFor();
    await page.locator('#backend-list .vrow [data-part=preview][src^="data:image/"]').nth(2).waitFor();

    await screenshot(page, 'dashboard.png');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('adds a backend, and removes it with a second click', async () => {
    const { page, errors } = await openDashboard(bridge);
    const [extra] = await startSims(1);
    try {
      await page.fill('#add-backend input[name=url]', extra.url);
      await page.fill('#add-backend input[name=labels]', 'sd15, spare');
      await page.click('#add-backend button[type=submit]');
      const row = backendRow(page, extra);
      await row.locator('[data-part=state]', { hasText: 'up' }).waitFor();
      expect(await row.locator('[data-part=meta]').textContent()).toContain('sd15, spare');
      expect(bridge.engine.healthyBackends()).toContain(extra.url);

      const remove = row.locator('button[data-action=remove]');
      await remove.click();
      expect(await remove.textContent()).toBe('Confirm remove');
      await remove.click();
      await row.waitFor({ state: 'detached' });
      expect(bridge.engine.backendsInfo().map((b) => b.url)).not.toContain(extra.url);
      expect(await page.textContent('#backend-count')).toBe('3');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await extra.close();
    }
  });
});

describe('the dashboard with 1,000 waiting jobs and 50 backends', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    sims = await startSims(50);
    // Probes once a second: fifty backends probed every 50 ms would be a load test of their own.
    bridge = await startBridge(
      sims.map((s) => s.url),
      { ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0', HEALTH_INTERVAL: '1', MAX_JOBS_PER_CLIENT: '0' },
    );
    await backendsUp(bridge);
    // Fifty run (for minutes), a thousand wait.
    let canvas = 0;
    for (let batch = 0; batch < 21; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => postJson(`${bridge.url}/generate-based-workflow?clientId=dash-scale-${batch % 7}00`, { workflow: 'sleep.json', '1/color': ++canvas, '2/seconds': 600 })),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
    }
    await engineUntil(bridge.engine, () => bridge.engine.counts().waiting === 1000);
  });
  afterAll(async () => {
    await bridge.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('draws only the rows in view, and an action still works', async () => {
    const { page, errors } = await openDashboard(bridge);
    await page.waitForFunction(() => document.getElementById('queue-count')?.textContent === '1000' && document.getElementById('backend-count')?.textContent === '50');
    const rows = async () => ({ queue: await page.locator('#queue-list .vrow').count(), backends: await page.locator('#backend-list .vrow').count() });
    const shown = await rows();
    expect(shown.queue).toBeGreaterThan(0);
    expect(shown.queue).toBeLessThan(60);
    expect(shown.backends).toBeGreaterThan(0);
    expect(shown.backends).toBeLessThan(30);

    // The end of the queue, scrolled to: still few rows, now the last places.
    await page.$eval('#queue-list', (el) => (el.scrollTop = el.scrollHeight));
    const lastRow = page.locator('#queue-list .vrow').filter({ has: page.locator('[data-part=pos]', { hasText: /^1000$/ }) });
    await lastRow.waitFor();
    expect((await rows()).queue).toBeLessThan(60);

    // Cancel the last job from its row.
    const lastId = bridge.engine.waiting()[999].id;
    expect(await lastRow.getAttribute('data-id')).toBe(lastId);
    await lastRow.locator('button[data-action=cancel-job]').click();
    await page.waitForFunction(() => document.getElementById('queue-count')?.textContent === '999');
    expect(bridge.engine.get(lastId)?.state).toBe('cancelled');

    // The last backend, scrolled to, can be drained.
    await page.$eval('#backend-list', (el) => (el.scrollTop = el.scrollHeight));
    const last = backendRow(page, sims[49]);
    await last.waitFor();
    await last.locator('button[data-action=toggle-drain]').click();
    await last.locator('[data-part=state]', { hasText: 'draining' }).waitFor();
    expect((await rows()).backends).toBeLessThan(30);

    await screenshot(page, 'dashboard-1000.png');
    expect(errors).toEqual([]);
    await page.close();
  });
});
