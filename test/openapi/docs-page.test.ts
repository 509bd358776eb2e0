// The API reference page (GET /docs) in headless Chromium: it loads Swagger UI from the bridge
// itself (no other origin is reached), logs no error, and shows the operations of the document,
// on the main port and on the ComfyUI-compatible door's.
import type { Browser } from 'playwright-core';
import type { ComfySimulator } from '../../src/sim/index.js';
import { startSims } from '../e2e/harness.js';
import { startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';
import { launchBrowser, pageErrors, screenshot } from '../dashboard/browser.js';

let browser: Browser;
let sim: ComfySimulator;
let bridge: CompatBridge;

beforeAll(async () => {
  browser = await launchBrowser();
  [sim] = await startSims(1);
  bridge = await startDoor([sim.url], { API_KEYS: 'key-0123456789abcdef' });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await bridge?.dispose();
  await sim?.close();
});

async function openDocs(base: string, shot: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = pageErrors(page);
  const elsewhere: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(base) && !req.url().startsWith('data:')) elsewhere.push(req.url());
  });
  const res = await page.goto(`${base}/docs`);
  expect(res?.status()).toBe(200);
  // Swagger UI renders one block per operation once it has read the document.
  await page.locator('.opblock').first().waitFor();
  await screenshot(page, shot);
  return { page, errors, elsewhere };
}

test('the main port\'s page shows the curated, v2 and operator operations, with no error and nothing from another origin', async () => {
  const { page, errors, elsewhere } = await openDocs(bridge.url, 'docs-main.png');
  const paths = await page.locator('.opblock-summary-path').allTextContents();
  const shown = paths.map((p) => p.replace(/\u200b/g, ''));
  for (const path of ['/generate-based-workflow', '/api/v2/jobs', '/api/v2/jobs/{id}', '/admin/backends', '/admin/webhooks']) expect(shown).toContain(path);
  expect(await page.locator('.info .title').textContent()).toContain('comfy-bridge');
  expect(errors).toEqual([]);
  expect(elsewhere).toEqual([]);
  await page.close();
}, 60_000);

test('the compatible door\'s page shows ComfyUI\'s operations', async () => {
  const { page, errors, elsewhere } = await openDocs(bridge.door, 'docs-compat.png');
  const shown = (await page.locator('.opblock-summary-path').allTextContents()).map((p) => p.replace(/\u200b/g, ''));
  for (const path of ['/prompt', '/history', '/view', '/upload/image']) expect(shown).toContain(path);
  expect(errors).toEqual([]);
  expect(elsewhere).toEqual([]);
  await page.close();
}, 60_000);
