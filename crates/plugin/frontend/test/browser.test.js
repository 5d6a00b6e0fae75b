// Both editors in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): real
// React from node_modules, module.js through the AMD loader, @grafana/ui stand-ins rendering plain
// inputs. Types into the editors and checks the query and settings objects they produce.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.RINGSTREAM_CHROMIUM || '/usr/bin/chromium';
const HERE = __dirname;

/** URL path -> file; nothing else is served. */
const FILES = {
  '/': path.join(HERE, 'browser', 'index.html'),
  '/browser/harness.js': path.join(HERE, 'browser', 'harness.js'),
  '/module.js': path.join(HERE, '..', 'module.js'),
  '/lib/amd.js': path.join(HERE, 'lib', 'amd.js'),
  '/lib/standins.js': path.join(HERE, 'lib', 'standins.js'),
  '/vendor/react.js': path.join(HERE, 'node_modules', 'react', 'umd', 'react.development.js'),
  '/vendor/react-dom.js': path.join(HERE, 'node_modules', 'react-dom', 'umd', 'react-dom.development.js'),
};

function serve() {
  const server = http.createServer((req, res) => {
    const file = FILES[new URL(req.url, 'http://127.0.0.1').pathname];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('both editors in headless Chromium', { timeout: 120000 }, async (t) => {
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); cargo xtask ci does that when run as root`
  );
  const server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ringstream-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
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

  // The page may reach our server only.
  await context.route('**/*', (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort()));
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (err) => problems.push('page error: ' + err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });

  await page.goto(origin + '/');
  await page.waitForFunction(() => window.__rs && (window.__rs.ready || window.__rs.error));
  assert.equal(await page.evaluate(() => window.__rs.error), null);

  const lastQuery = () => page.evaluate(() => window.__rs.queries[window.__rs.queries.length - 1]);
  const lastSettings = () => page.evaluate(() => window.__rs.settings[window.__rs.settings.length - 1]);
  const runs = () => page.evaluate(() => window.__rs.runs);

  await t.test('query editor', async () => {
    const q = page.locator('#query');
    const field = (label) => q.getByLabel(label, { exact: true });

    // The default query is the tutorial stream.
    assert.equal(await field('Source').inputValue(), 'signal');
    assert.equal(await field('Signal').inputValue(), 'random');
    assert.equal(await field('Min').inputValue(), '');
    assert.equal(await field('Tick (ms)').inputValue(), '100');
    assert.equal(await field('Capacity').inputValue(), '1000');
    assert.equal(await field('Backfill').isChecked(), true);

    // A sine with its parameters, typed key by key.
    await field('Signal').selectOption('sine');
    assert.equal((await lastQuery()).signal, 'sine');
    assert.equal(await runs(), 1, 'changing the signal runs the query');
    await field('Amplitude').pressSequentially('5');
    await field('Period (ms)').pressSequentially('2000');
    await field('Offset').pressSequentially('-1.5');
    await field('Tick (ms)').fill('');
    await field('Tick (ms)').pressSequentially('250');
    await field('Seed').pressSequentially('42');
    await field('Capacity').fill('500');
    await field('Backfill').uncheck();
    assert.deepEqual(await lastQuery(), {
      refId: 'A',
      source: 'signal',
      signal: 'sine',
      tickMs: 250,
      capacity: 500,
      backfill: false,
      amplitude: 5,
      periodMs: 2000,
      offset: -1.5,
      seed: 42,
    });
    assert.ok((await runs()) >= 5, 'leaving a field runs the query');

    // Emptying a field drops the key (the backend's default applies); out-of-range is flagged.
    await field('Seed').fill('');
    assert.equal('seed' in (await lastQuery()), false);
    await field('Tick (ms)').fill('5');
    await q.getByText('At least 10', { exact: true }).waitFor();
    await field('Tick (ms)').fill('250');
    assert.equal(await q.getByText('At least 10', { exact: true }).count(), 0);

    // MQTT: topic (checked), time path, fields.
    await field('Source').selectOption('mqtt');
    await q.getByText('A topic is needed, e.g. sensors/+/temperature').waitFor();
    await q.getByRole('alert').filter({ hasText: 'No MQTT broker' }).waitFor();
    await field('Topic').pressSequentially('sensors/#/x');
    await q.getByText('# stands alone as the last level (sensors/#)').waitFor();
    await field('Topic').fill('');
    await field('Topic').pressSequentially('sensors/+/temperature');
    assert.equal(await q.locator('.sf-error').count(), 0);
    await field('Time path').pressSequentially('meta.ts');
    await field('Fields').pressSequentially('celsius');
    await field('Fields').press('Enter');
    await field('Fields').pressSequentially('humidity');
    await field('Fields').press('Enter');
    await q.getByRole('button', { name: 'Remove humidity' }).click();
    const mqtt = await lastQuery();
    assert.deepEqual(
      { source: mqtt.source, topic: mqtt.topic, timePath: mqtt.timePath, fields: mqtt.fields, capacity: mqtt.capacity },
      { source: 'mqtt', topic: 'sensors/+/temperature', timePath: 'meta.ts', fields: ['celsius'], capacity: 500 }
    );
    await q.getByRole('button', { name: 'Remove celsius' }).click();
    assert.equal('fields' in (await lastQuery()), false, 'no field names: every field');

    // WebSocket: path under the admin's base URL.
    await field('Source').selectOption('websocket');
    assert.equal(await field('Topic').count(), 0);
    await field('Path').pressSequentially('/ticker/btc');
    await q.getByText('Connects to wss://feed.example/ticker/btc').waitFor();
    const ws = await lastQuery();
    assert.equal(ws.source, 'websocket');
    assert.equal(ws.path, '/ticker/btc');
    assert.equal(ws.timePath, 'meta.ts');

    // Back to a signal: the signal settings are still there.
    await field('Source').selectOption('signal');
    assert.equal(await field('Amplitude').inputValue(), '5');
  });

  await t.test('config editor', async () => {
    const c = page.locator('#config');
    const field = (label) => c.getByLabel(label, { exact: true });

    // MQTT connection.
    await field('MQTT URL').fill('');
    await field('MQTT URL').pressSequentially('http://broker');
    await c.getByText('Use mqtt:// or mqtts:// followed by host and port').waitFor();
    await field('MQTT URL').fill('');
    await field('MQTT URL').pressSequentially('mqtts://broker.example:8883');
    assert.equal(await c.locator('.sf-error').count(), 0);
    await field('Username').pressSequentially('grafana');
    await field('Client ID').pressSequentially('dash-1');

    // The saved password shows as "configured", never as a value; Reset makes it writable again.
    const password = field('Password');
    assert.equal(await password.inputValue(), 'configured');
    assert.equal(await password.isDisabled(), true);
    await c.locator('.sf-field').filter({ has: page.locator('label', { hasText: /^Password$/ }) }).getByRole('button', { name: 'Reset' }).click();
    let s = await lastSettings();
    assert.equal(s.secureJsonFields.mqttPassword, false);
    assert.equal(s.secureJsonData.mqttPassword, '');
    assert.equal(await field('Password').getAttribute('type'), 'password');
    await field('Password').pressSequentially('s3cret');

    // WebSocket with an Authorization header whose value is secret.
    await field('WebSocket URL').pressSequentially('wss://feed.example/ws');
    await field('Header name').pressSequentially('Authorization');
    assert.equal(await field('Header value').getAttribute('type'), 'password');
    await field('Header value').pressSequentially('Bearer t0ken');

    // TLS: the CA certificate field appears with "With CA certificate".
    assert.equal(await field('CA certificate').count(), 0);
    await field('Skip TLS verify').check();
    await field('With CA certificate').check();
    await field('CA certificate').fill('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----');

    s = await lastSettings();
    assert.deepEqual(s.jsonData, {
      mqttUrl: 'mqtts://broker.example:8883',
      mqttUsername: 'grafana',
      mqttClientId: 'dash-1',
      websocketUrl: 'wss://feed.example/ws',
      httpHeaderName1: 'Authorization',
      tlsSkipVerify: true,
      tlsAuthWithCACert: true,
    });
    assert.deepEqual(s.secureJsonData, {
      mqttPassword: 's3cret',
      httpHeaderValue1: 'Bearer t0ken',
      tlsCACert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    });
    assert.deepEqual(s.secureJsonFields, { mqttPassword: false });
    assert.equal(s.name, 'Ringstream', 'the rest of the settings is kept');

    // Unticking a switch stores false; an emptied text field is dropped.
    await field('Skip TLS verify').uncheck();
    await field('Client ID').fill('');
    s = await lastSettings();
    assert.equal(s.jsonData.tlsSkipVerify, false);
    assert.equal('mqttClientId' in s.jsonData, false);
  });

  assert.deepEqual(problems, [], 'no errors or React warnings in the page');
});
