// End-to-end test of `ferroftp web` in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core: no browser download).
//
//   node tests/browser/e2e.mjs WEB_URL FTP_PORT USER PASSWORD SHOTS_DIR
//
// Logs in through the form, sees the success message, uploads a file through the file input,
// sees it listed, downloads it and compares bytes; sorts, filters, renames, sees a refused
// action answered on the same listing and no Upload where nothing can be created; checks the
// dark scheme, ellipsized long names and the remembered login form; saves screenshots at 1280
// and 390 px, light and dark, into SHOTS_DIR (web-1280-light.png, web-1280-dark.png,
// web-390-light.png, web-390-dark.png); then uploads, renames and deletes with JavaScript
// off. Prints "e2e ok" and exits 0 on success.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [url, ftpPort, user, password, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: e2e.mjs WEB_URL FTP_PORT USER PASSWORD SHOTS_DIR');
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

/** "195.3 KiB" → bytes, for checking an order. */
function bytesOf(text) {
  const [n, unit] = text.trim().split(' ');
  return parseFloat(n) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 }[unit];
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
  await page.setInputFiles('#upload input.pick-files', file);
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

  // ---- uploads like the anchors ----
  const home = `${url}/browse?path=${encodeURIComponent('/' + user)}`;
  // The drop zone uploads what is dropped on it.
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped bytes\n'], 'dropped.txt', { type: 'text/plain' }));
    return dt;
  });
  await page.locator('#upload .dropzone').waitFor();
  await page.dispatchEvent('#upload .dropzone', 'drop', { dataTransfer: dropped });
  await row(page, 'dropped.txt').waitFor();

  // A folder keeps its tree.
  mkdirSync(join(work, 'album', 'sub'), { recursive: true });
  writeFileSync(join(work, 'album', 'cover.txt'), 'cover\n');
  writeFileSync(join(work, 'album', 'sub', 'track.txt'), 'track\n');
  await page.setInputFiles('#upload input.pick-folder', join(work, 'album'));
  await page.click('#upload button[type=submit]');
  await page.locator('a.dir', { hasText: 'album/' }).waitFor();

  // Per-file progress and Cancel (the upload slowed down so it is still running).
  const cdp = await context.newCDPSession(page);
  const network = (o) => cdp.send('Network.emulateNetworkConditions', { latency: 0, downloadThroughput: -1, ...o });
  await cdp.send('Network.enable');
  writeFileSync(join(work, 'slow.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
  await network({ offline: false, uploadThroughput: 256 * 1024 });
  await page.setInputFiles('#upload input.pick-files', join(work, 'slow.bin'));
  await page.click('#upload button[type=submit]');
  const slow = page.locator('ul.queue li', { hasText: 'slow.bin' });
  await page.waitForFunction(() => { const p = document.querySelector('ul.queue li progress'); return p && p.value > 0; });
  await slow.locator('button', { hasText: 'Cancel' }).click();
  assert.equal(await slow.locator('.qstate').textContent(), 'cancelled');

  // A large file goes in pieces and survives a dropped connection.
  const large = Buffer.from(Array.from({ length: 18 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 12)) % 251));
  writeFileSync(join(work, 'large.bin'), large);
  await network({ offline: false, uploadThroughput: 6 * 1024 * 1024 });
  await page.goto(home);
  await page.setInputFiles('#upload input.pick-files', join(work, 'large.bin'));
  await page.click('#upload button[type=submit]');
  await page.waitForFunction(() => { const p = document.querySelector('ul.queue li progress'); return p && p.value > 3 * 1024 * 1024; });
  await network({ offline: true, uploadThroughput: -1 });
  await page.waitForFunction(() => /reconnecting/.test(document.querySelector('ul.queue .qstate').textContent), null, { timeout: 15_000 });
  await network({ offline: false, uploadThroughput: -1 });
  await row(page, 'large.bin').waitFor({ timeout: 60_000 });
  await cdp.send('Network.disable');
  // The dropped requests were the test's own doing.
  for (let i = problems.length - 1; i >= 0; i--) if (/ERR_INTERNET_DISCONNECTED|net::/.test(problems[i])) problems.splice(i, 1);

  // Sorting by size (a header link), then the filter box.
  await Promise.all([page.waitForURL(/sort=size/), page.click('th a.sort:has-text("Size")')]);
  const sizes = (await page.locator('table.files tbody tr:has(td.name .file) td:nth-child(2)').allTextContents()).map(bytesOf);
  assert.ok(sizes.length >= 3, `file sizes listed: ${sizes}`);
  assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b), 'ascending by size');
  await page.fill('input[name=q]', 'Notes.TXT');
  await Promise.all([page.waitForURL(/q=Notes.TXT/), page.click('form.search button')]);
  assert.deepEqual(await page.locator('table.files tbody tr td.name .file').allTextContents(), ['notes.txt']);
  await Promise.all([page.waitForURL(/browse/), page.click('form.search a:has-text("Clear")')]);

  // Rename through its form.
  await Promise.all([page.waitForURL(/\/rename\?path=/), row(page, 'notes.txt').locator('a.button', { hasText: 'Rename' }).click()]);
  await page.fill('input[name=to]', 'minutes.txt');
  await Promise.all([page.waitForURL(/\/browse\?path=/), page.click('button:has-text("Rename")')]);
  assert.match(await page.locator('p.notice').textContent(), /^Renamed .*notes\.txt to .*minutes\.txt\.$/);
  await row(page, 'minutes.txt').waitFor();

  // A refused action answers on the same listing: the error above the table.
  await page.fill('form[action="/mkdir"] input[name=name]', 'projects');
  await page.click('form[action="/mkdir"] button');
  await page.locator('p.error').waitFor();
  assert.match(await page.locator('p.error').textContent(), /^Cannot create .*\/projects: /);
  assert.equal(await page.locator('table.files').count(), 1, 'the listing is still there');
  // That 409 was asked for: it is not a problem of the page.
  for (let i = problems.length - 1; i >= 0; i--) if (/^409 .*\/mkdir$/.test(problems[i])) problems.splice(i, 1);
  await page.goto(`${url}/browse?path=${encodeURIComponent('/' + user)}`);

  // A text file previews in the page.
  await Promise.all([page.waitForURL(/\/view\?path=/), row(page, 'minutes.txt').locator('a.button', { hasText: 'View' }).click()]);
  assert.equal(await page.locator('pre.preview').textContent(), 'meeting notes\n');
  await page.goBack();

  // An image previews in the page, shown from an inline download.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
  writeFileSync(join(work, 'dot.png'), png);
  await page.setInputFiles('#upload input.pick-files', join(work, 'dot.png'));
  await page.click('#upload button[type=submit]');
  await row(page, 'dot.png').waitFor();
  await Promise.all([page.waitForURL(/\/view\?path=/), row(page, 'dot.png').locator('a.button', { hasText: 'View' }).click()]);
  await page.waitForFunction(() => { const i = document.querySelector('figure.preview img'); return i && i.complete && i.naturalWidth === 1; });
  await page.goBack();

  // A name is a link: clicking it downloads the file.
  const [byName] = await Promise.all([page.waitForEvent('download'), row(page, 'minutes.txt').locator('a.file').click()]);
  assert.equal(readFileSync(await byName.path()).toString(), 'meeting notes\n');

  // An empty directory says so, and how to fill it.
  await page.goto(`${url}/browse?path=${encodeURIComponent('/' + user + '/projects')}`);
  assert.match(await page.locator('td.empty').textContent(), /^This directory is empty\. Upload files or create a directory below\.$/);
  await page.goto(`${url}/browse?path=${encodeURIComponent('/' + user)}`);

  // Two checked rows download as one zip archive.
  await row(page, 'minutes.txt').locator('input[type=checkbox]').check();
  await row(page, 'report 2026.pdf').locator('input[type=checkbox]').check();
  const [zipped] = await Promise.all([
    page.waitForEvent('download'),
    page.click('button:has-text("Download selected as zip")'),
  ]);
  assert.equal(zipped.suggestedFilename(), `${user}.zip`);
  const archive = readFileSync(await zipped.path());
  assert.equal(archive.subarray(0, 4).toString('latin1'), 'PK\x03\x04', 'a zip archive');
  assert.ok(archive.length > 180_000, `the archive holds both files (${archive.length} bytes)`);
  await page.goto(`${url}/browse?path=${encodeURIComponent('/' + user)}`);

  // A long name ends in an ellipsis on one line; icons follow the file type.
  const long = await page.locator('td.name .file', { hasText: 'a name long enough' });
  const fit = await long.evaluate((el) => ({
    overflow: getComputedStyle(el.parentElement).textOverflow,
    clipped: el.parentElement.scrollWidth > el.parentElement.clientWidth,
    lines: Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)),
  }));
  assert.equal(fit.overflow, 'ellipsis');
  assert.equal(fit.lines, 1, 'one line');
  assert.equal(await row(page, 'report 2026.pdf').locator('.icon-pdf').count(), 1);

  await page.screenshot({ path: join(shots, 'web-1280-light.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  assert.ok(await long.evaluate((el) => el.parentElement.scrollWidth > el.parentElement.clientWidth), 'clipped at 390 px');
  await page.screenshot({ path: join(shots, 'web-390-light.png'), fullPage: true });

  // Nothing can be created at /: no Upload, no New directory.
  await page.goto(`${url}/browse?path=%2F`);
  assert.equal(await page.locator('#upload').count(), 0);
  assert.equal(await page.locator('form[action="/mkdir"]').count(), 0);
  assert.match(await page.locator('.readonly').textContent(), /read-only for you/);
  assert.deepEqual(problems, [], 'console errors with JavaScript on');
  // The login form remembers host, port and user (never the password) after logging out.
  await Promise.all([page.waitForURL(new RegExp(`^${url}/?$`)), page.click('button:has-text("Log out")')]);
  assert.equal(await page.inputValue('input[name=user]'), user);
  assert.equal(await page.inputValue('input[name=port]'), String(ftpPort));
  assert.equal(await page.inputValue('input[name=password]'), '');
  await context.close();

  // ---- the dark scheme, as the system asks for it ----
  for (const [width, height, file] of [[1280, 800, 'web-1280-dark.png'], [390, 844, 'web-390-dark.png']]) {
    const dark = await newPage({ colorScheme: 'dark', viewport: { width, height } });
    await login(dark.page);
    const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(15, 20, 25)', 'dark background');
    await dark.page.screenshot({ path: join(shots, file), fullPage: true });
    assert.deepEqual(dark.problems, [], 'console errors in the dark scheme');
    await dark.context.close();
  }

  // ---- with JavaScript off: plain forms do everything ----
  const off = await newPage({ javaScriptEnabled: false, viewport: { width: 1024, height: 768 } });
  await login(off.page);
  const plain = join(work, 'no-js.txt');
  writeFileSync(plain, 'sent by a plain form\n');
  await off.page.setInputFiles('#upload input.pick-files', plain);
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
  // Several rows deleted at once: check them, confirm, gone.
  for (const n of ['dropped.txt', 'dot.png']) await row(off.page, n).locator('input[type=checkbox]').check();
  await Promise.all([off.page.waitForURL(/\/selection$/), off.page.click('button:has-text("Delete selected")')]);
  assert.equal(await off.page.locator('h1').textContent(), 'Delete 2 entries?');
  await Promise.all([off.page.waitForURL(/\/browse\?path=/), off.page.click('button.danger')]);
  assert.equal(await off.page.locator('p.notice').textContent(), 'Deleted 2 entries.');
  assert.equal(await row(off.page, 'dropped.txt').count(), 0);
  // A folder through the plain form keeps its tree too (the browser sends the paths).
  mkdirSync(join(work, 'plain-folder', 'inner'), { recursive: true });
  writeFileSync(join(work, 'plain-folder', 'inner', 'deep.txt'), 'deep\n');
  await off.page.setInputFiles('#upload input.pick-folder', join(work, 'plain-folder'));
  await Promise.all([off.page.waitForURL(/\/browse\?path=/), off.page.click('#upload button[type=submit]')]);
  assert.match(await off.page.locator('p.notice').textContent(), /^Uploaded 1 file\(s\): plain-folder\/inner\/deep\.txt\.$/);
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
