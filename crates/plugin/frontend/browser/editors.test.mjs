// The BUILT module.js (dist/, from `npm run build`) in headless Chromium, loaded as Grafana
// loads a plugin: the real SystemJS with its AMD extra, the real @grafana/data, @grafana/ui,
// @grafana/runtime, React and the other shared modules registered under Grafana's names
// (browser/host.tsx, bundled by build-host.mjs). Both editors are rendered from the plugin's
// exports, typed into, and the settings and query objects they hand out are checked. Any page
// error, console error or warning (React's warnings among them), failed request or request
// off the test server fails the test.
//
// Debian's /usr/bin/chromium, driven by playwright-core (which never downloads a browser),
// on 127.0.0.1 only. Screenshots of both editors are written to the repository's img/ only
// with RINGSTREAM_UPDATE_SCREENSHOTS=1 (then review and commit them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { buildHost } from './build-host.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FRONTEND = path.resolve(HERE, '..');
const REPO = path.resolve(FRONTEND, '..', '..', '..');
const DIST = path.join(FRONTEND, 'dist');
const CHROMIUM = process.env.RINGSTREAM_CHROMIUM || '/usr/bin/chromium';
const UPDATE_SCREENSHOTS = process.env.RINGSTREAM_UPDATE_SCREENSHOTS === '1';
const PLUGIN_ID = JSON.parse(fs.readFileSync(path.join(REPO, 'plugin.json'), 'utf8')).id;
const SYSTEMJS = path.join(FRONTEND, 'node_modules', 'systemjs', 'dist');
const ICONS = path.join(FRONTEND, 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img', 'icons');

const ICON_PATH = /^\/public\/img\/icons\/[a-z]+\/[a-z0-9-]+\.svg$/;
const EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"></svg>';

/** The AMD dependencies of the built module.js: `define([...], …)`. */
function amdDependencies(source) {
  const match = /\bdefine\((\[[^\]]*\])/.exec(source);
  assert.ok(match, 'module.js is not an AMD module (no define([...]))');
  return JSON.parse(match[1]);
}

/** A file under `root` for a URL path below `prefix`, or undefined (no escaping `root`). */
function under(root, prefix, pathname) {
  if (!pathname.startsWith(prefix)) {
    return undefined;
  }
  const file = path.resolve(root, decodeURIComponent(pathname.slice(prefix.length)));
  return file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

function serve(hostDir, served) {
  const routes = [
    (p) => (p === '/' ? path.join(HERE, 'index.html') : undefined),
    (p) => under(SYSTEMJS, '/vendor/systemjs/', p),
    (p) => under(DIST, `/public/plugins/${PLUGIN_ID}/`, p),
    (p) => under(ICONS, '/public/img/icons/', p),
    (p) => under(hostDir, '/', p),
  ];
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.svg': 'image/svg+xml', '.ttf': 'font/ttf' };
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://127.0.0.1').pathname;
    const file = routes.map((route) => route(pathname)).find(Boolean);
    if (!file && ICON_PATH.test(pathname)) {
      // An icon Grafana serves from its own public/img but @grafana/ui's npm package lacks
      // (unicons/spinner.svg): an empty SVG, as the page needs no more to go on.
      served.push({ pathname, found: true, placeholder: true });
      res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(EMPTY_SVG);
      return;
    }
    served.push({ pathname, found: Boolean(file) });
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = types[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('the built module.js in Chromium, loaded as Grafana loads plugins', { timeout: 600000 }, async (t) => {
  const moduleJs = path.join(DIST, 'module.js');
  assert.ok(fs.existsSync(moduleJs), `${moduleJs} is missing: run \`npm run build\` first (cargo xtask ci does)`);
  assert.ok(fs.existsSync(`${moduleJs}.map`), 'module.js.map is missing: the build emits a source map');
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); cargo xtask ci does that as root`
  );
  const hostDir = path.dirname(await buildHost());

  const served = [];
  const server = await serve(hostDir, served);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ringstream-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(async () => {
    await context.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });

  const problems = [];
  // The page may reach the test server only.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) {
      return route.continue();
    }
    problems.push(`request off the test server: ${url}`);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      problems.push(`console ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));

  await page.goto(`${origin}/`);
  await page
    .waitForFunction(() => window.__rs && (window.__rs.ready || window.__rs.error), null, { timeout: 180000 })
    .catch((err) => assert.fail(`the page did not load: ${err.message}\n${problems.join('\n')}`));
  const rs = () => page.evaluate(() => window.__rs);
  const lastQuery = async () => (await rs()).queries.at(-1);
  const lastSettings = async () => (await rs()).settings.at(-1);

  await t.test('module.js loads through SystemJS with only Grafana’s shared modules', async () => {
    const state = await rs();
    assert.equal(state.error, null);
    assert.equal(state.pluginIsShared, true, 'plugin is the page’s @grafana/data DataSourcePlugin');
    assert.equal(state.moduleUrl, `${origin}/public/plugins/${PLUGIN_ID}/module.js`);
    assert.ok(served.some((s) => s.pathname === `/public/plugins/${PLUGIN_ID}/module.js`));
    const deps = amdDependencies(fs.readFileSync(moduleJs, 'utf8'));
    for (const dep of deps) {
      if (dep !== 'module' && dep !== 'exports' && dep !== 'require') {
        assert.ok(state.sharedNames.includes(dep), `module.js imports ${dep}, which Grafana does not share`);
      }
    }
    assert.ok(deps.includes('@grafana/data') && deps.includes('@grafana/runtime') && deps.includes('@grafana/ui'));
  });

  const query = page.locator('#query');
  const config = page.locator('#config');
  const field = (root, label) => root.getByLabel(label, { exact: true });
  const option = (name) => page.getByRole('option', { name });

  if (UPDATE_SCREENSHOTS) {
    await config.screenshot({ path: path.join(REPO, 'img', 'config-editor.png') });
  }

  await t.test('query editor: the tutorial query, a sine typed in, out-of-range values flagged', async () => {
    assert.equal(await field(query, 'Tick (ms)').inputValue(), '100');
    assert.equal(await field(query, 'Capacity (rows)').inputValue(), '1000');
    assert.equal(await field(query, 'Backfill').isChecked(), true);
    assert.equal(await field(query, 'Min').getAttribute('placeholder'), '0');
    await query.getByText('Random', { exact: true }).waitFor();

    await field(query, 'Signal').click();
    await option(/^Sine/).click();
    assert.deepEqual(await lastQuery(), { refId: 'A', source: 'signal', signal: 'sine', tickMs: 100, capacity: 1000, backfill: true });
    const runs = (await rs()).runs;
    assert.equal(runs, 1);

    await field(query, 'Amplitude').fill('10');
    await field(query, 'Period (ms)').fill('60000');
    await field(query, 'Tick (ms)').fill('5');
    await field(query, 'Tick (ms)').blur();
    await query.getByText('Between 10 and 3600000 ms').waitFor();
    assert.equal((await rs()).runs, runs + 2, 'amplitude and period ran when left; the bad tick does not run');
    await field(query, 'Tick (ms)').fill('500');
    await field(query, 'Tick (ms)').blur();
    assert.equal(await query.getByText('Between 10 and 3600000 ms').count(), 0);
    assert.deepEqual(await lastQuery(), {
      refId: 'A',
      source: 'signal',
      signal: 'sine',
      tickMs: 500,
      capacity: 1000,
      backfill: true,
      amplitude: 10,
      periodMs: 60000,
    });

    // The tooltip is the schema's description.
    await query.locator('label', { hasText: 'Period (ms)' }).locator('svg').hover();
    await page.getByText("The wave's period (ms)").waitFor();
    await page.mouse.move(0, 0);
    if (UPDATE_SCREENSHOTS) {
      await query.screenshot({ path: path.join(REPO, 'img', 'query-editor-signal.png') });
    }
  });

  await t.test('query editor: MQTT topic from the topics resource, the backend’s validate answer', async () => {
    await field(query, 'Source').click();
    await option(/^MQTT/).click();
    assert.deepEqual(await lastQuery(), { refId: 'A', source: 'mqtt', tickMs: 500, capacity: 1000, backfill: true });
    await query.getByText('Topic is needed').waitFor();

    await field(query, 'Topic').click();
    await field(query, 'Topic').pressSequentially('press');
    await option('plant/line-1/press-8').waitFor();
    await option('office/door').waitFor({ state: 'detached' });
    if (UPDATE_SCREENSHOTS) {
      // The suggestions open below the editor: the picture takes the page under it too.
      const box = await query.boundingBox();
      const scroll = await page.evaluate(() => window.scrollY);
      await page.screenshot({
        path: path.join(REPO, 'img', 'query-editor-mqtt.png'),
        fullPage: true,
        clip: { x: box.x, y: box.y + scroll, width: box.width, height: box.height + 120 },
      });
    }
    await option('plant/line-1/press-8').click();
    assert.equal((await lastQuery()).topic, 'plant/line-1/press-8');
    const urls = (await rs()).requests.map((r) => `${r.method} ${r.url}`);
    const base = `/api/datasources/uid/rs-browser/resources`;
    assert.ok(urls.includes(`GET ${base}/topics?source=mqtt&limit=50`), urls.join('\n'));
    assert.ok(urls.includes(`GET ${base}/topics?source=mqtt&limit=50&filter=press`), urls.join('\n'));
    await page.waitForFunction(() =>
      window.__rs.requests.some((r) => r.url.endsWith('/validate') && r.data.topic === 'plant/line-1/press-8')
    );

    await field(query, 'Topic').click();
    await field(query, 'Topic').pressSequentially('plant/#/x');
    await option('Use plant/#/x').click();
    assert.equal((await lastQuery()).topic, 'plant/#/x');
    await query.getByText('# must be the last level of a topic filter').waitFor();
    const validate = (await rs()).requests.filter((r) => r.url === `${base}/validate`).at(-1);
    assert.deepEqual(validate, {
      method: 'POST',
      url: `${base}/validate`,
      data: { source: 'mqtt', topic: 'plant/#/x', tickMs: 500, capacity: 1000, backfill: true },
    });
  });

  await t.test('config editor: a secret reset and typed anew, a URL checked, a header added', async () => {
    // The MQTT group's password (the NATS group has one too).
    const mqtt = config.getByRole('group', { name: 'MQTT' });
    const password = field(mqtt, 'Password');
    assert.equal(await password.inputValue(), 'configured');
    assert.equal(await password.isDisabled(), true);
    // Two configured secrets (the password, header 1's value): the password's Reset comes first.
    assert.equal(await config.getByRole('button', { name: 'Reset' }).count(), 2);
    await config.getByRole('button', { name: 'Reset' }).first().click();
    assert.deepEqual((await lastSettings()).secureJsonFields, { mqttPassword: false, httpHeaderValue1: true });
    assert.deepEqual((await lastSettings()).secureJsonData, { mqttPassword: '' });
    await field(mqtt, 'Password').fill('s3cret');
    assert.deepEqual((await lastSettings()).secureJsonData, { mqttPassword: 's3cret' });

    const mqttUrl = config.locator('#ringstream-cfg-mqttUrl');
    await mqttUrl.fill('http://broker');
    await config.getByText('Use mqtt:// or mqtts:// followed by the host').waitFor();
    await mqttUrl.fill('mqtt://broker:1883');
    assert.equal(await config.getByText('Use mqtt:// or mqtts:// followed by the host').count(), 0);

    assert.equal(await field(config, 'HTTP header 1 value').inputValue(), 'configured');
    await config.getByRole('button', { name: /Add HTTP header/ }).click();
    await field(config, 'HTTP header 2 name').fill('X-Tenant');
    await field(config, 'HTTP header 2 value').fill('t-42');
    const settings = await lastSettings();
    assert.deepEqual(settings.jsonData, {
      mqttUrl: 'mqtt://broker:1883',
      mqttUsername: 'grafana',
      websocketUrl: 'wss://feed.example/v1',
      httpHeaderName1: 'Authorization',
      httpHeaderName2: 'X-Tenant',
    });
    assert.deepEqual(settings.secureJsonData, { mqttPassword: 's3cret', httpHeaderValue2: 't-42' });
    // A configured secret's value never reached the page.
    assert.equal(await page.evaluate(() => document.body.innerHTML.includes('hunter2')), false);
  });

  await t.test('no page error, console error or warning, failed or foreign request', async () => {
    const missing = served.filter((s) => !s.found).map((s) => `404 ${s.pathname}`);
    assert.deepEqual([...problems, ...missing], []);
  });
});
