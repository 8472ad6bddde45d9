// End-to-end test of `ferroftp web` in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core: no browser download).
//
//   node tests/browser/e2e.mjs WEB_URL FTP_PORT USER PASSWORD SCREENSHOT.png [MOBILE.png]
//
// Logs in through the form, sees the success message, uploads a file through the file input,
// sees it listed, downloads it and compares bytes, saves a full-page screenshot; then does the
// same upload and a delete with JavaScript off. Prints "e2e ok" and exits 0 on success.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [url, ftpPort, user, password, shot, mobileShot] = process.argv.slice(2);
if (!shot) {
  console.error('usage: e2e.mjs WEB_URL FTP_PORT USER PASSWORD SCREENSHOT.png [MOBILE.png]');
  process.exit(2);
}
const STEP_TIMEOUT = 20_000;
const work = mkdtempSync(join(tmpdir(), 'ferroftp-e2e-'));

// Playwright gives every launch a fresh, empty --user-data-dir of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 60_000,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

/** A page whose console errors (a CSP violation, a script error) fail the test. */
async function newPage(options) {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  const problems = [];
  // Failed requests are reported with their URL below (the browser's own /favicon.ico aside).
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`);
  });
  return { context, page, problems };
}

async function login(page) {
  await page.goto(url);
  await page.fill('input[name=host]', '127.0.0.1');
  await page.fill('input[name=port]', String(ftpPort));
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(/\/browse\?path=/), page.click('button:has-text("Connect")')]);
  const notice = await page.locator('p.notice').textContent();
  assert.match(notice, new RegExp(`^Connected to 127\\.0\\.0\\.1:${ftpPort} as ${user}\\.$`));
}

function row(page, name) {
  return page.locator('table.files tbody tr', { has: page.locator('.file', { hasText: name }) });
}

let failed = false;
try {
  // ---- with JavaScript (progress bar and XHR upload) ----
  const { context, page, problems } = await newPage({ viewport: { width: 1280, height: 800 } });
  await login(page);

  const name = 'hello from chromium.txt';
  const body = Buffer.concat([
    Buffer.from('uploaded by headless Chromium\n'),
    Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)),
  ]);
  const file = join(work, name);
  writeFileSync(file, body);
  // app.js sends the form with XMLHttpRequest (progress bar), then reloads the listing.
  await page.setInputFiles('#upload input[type=file]', file);
  await page.click('#upload button[type=submit]');
  await row(page, name).waitFor();
  const listed = await row(page, name).locator('td').nth(1).textContent();
  assert.equal(listed, '195.3 KiB');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row(page, name).locator('a.button', { hasText: 'Download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), name);
  const got = readFileSync(await download.path());
  assert.ok(got.equals(body), `downloaded ${got.length} bytes differ from the ${body.length} uploaded`);

  await page.screenshot({ path: shot, fullPage: true });
  if (mobileShot) {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.screenshot({ path: mobileShot, fullPage: true });
  }
  assert.deepEqual(problems, [], 'console errors with JavaScript on');
  await context.close();

  // ---- with JavaScript off: plain forms do everything ----
  const off = await newPage({ javaScriptEnabled: false, viewport: { width: 1024, height: 768 } });
  await login(off.page);
  const plain = join(work, 'no-js.txt');
  writeFileSync(plain, 'sent by a plain form\n');
  await off.page.setInputFiles('#upload input[type=file]', plain);
  await Promise.all([off.page.waitForURL(/\/browse\?path=/), off.page.click('#upload button[type=submit]')]);
  assert.match(await off.page.locator('p.notice').textContent(), /^Uploaded 1 file\(s\): no-js\.txt\.$/);
  await row(off.page, 'no-js.txt').waitFor();
  await Promise.all([
    off.page.waitForURL(/\/delete\?path=/),
    row(off.page, 'no-js.txt').locator('a.button', { hasText: 'Delete' }).click(),
  ]);
  await Promise.all([off.page.waitForURL(/\/browse\?path=/), off.page.click('button.danger')]);
  assert.match(await off.page.locator('p.notice').textContent(), /^Deleted .*no-js\.txt\.$/);
  assert.equal(await row(off.page, 'no-js.txt').count(), 0);
  assert.deepEqual(off.problems, [], 'console errors with JavaScript off');
  await off.context.close();
  console.log('e2e ok');
} catch (e) {
  failed = true;
  console.error(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
