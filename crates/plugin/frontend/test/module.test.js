// module.js in node: syntax, AMD loading, plugin registration, default query, template variables,
// and both editors rendered to HTML (react-dom/server) with @grafana/ui stand-ins.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const acorn = require('acorn');
const React = require('react');
const { renderToStaticMarkup } = require('react-dom/server');

const { createLoader } = require('./lib/amd');
const { createData, createRuntime, createUi } = require('./lib/standins');

const MODULE_PATH = path.join(__dirname, '..', 'module.js');
const SOURCE = fs.readFileSync(MODULE_PATH, 'utf8');
const HOST_MODULES = ['@grafana/data', '@grafana/runtime', '@grafana/ui', 'react'];

/** Loads module.js with fresh stand-ins; `react` may be given as a bundler-style namespace. */
function load({ variables = {}, reactAsNamespace = false } = {}) {
  const loader = createLoader();
  const data = createData();
  const runtime = createRuntime(variables);
  const { ui, received } = createUi(React);
  // Only components the stand-in (and so @grafana/ui) has: anything else is a mistake.
  const strictUi = new Proxy(ui, {
    get(target, name) {
      if (typeof name === 'string' && !(name in target)) {
        throw new Error('module.js uses @grafana/ui.' + name + ', which the stand-in does not know');
      }
      return target[name];
    },
  });
  loader.provide('@grafana/data', data);
  loader.provide('@grafana/runtime', runtime);
  loader.provide('@grafana/ui', strictUi);
  loader.provide('react', reactAsNamespace ? { default: React } : React);
  const exports = loader.evaluate('ringstream', SOURCE, MODULE_PATH);
  return { exports, loader, data, runtime, received };
}

function settings(jsonData = {}) {
  return { name: 'Ringstream', uid: 'rs1', type: 'seed-ringstream-datasource', jsonData };
}

test('module.js is plain ES2017 (no build step, no JSX)', () => {
  assert.doesNotThrow(() => acorn.parse(SOURCE, { ecmaVersion: 2017, sourceType: 'script' }));
});

test('module.js has none of the Angular-era patterns Grafana refuses', () => {
  // The patterns Grafana's Angular detector looks for in module.js.
  const patterns = [
    /PanelCtrl/,
    /ConfigCtrl/,
    /app\/plugins\/sdk/,
    /angular\.isNumber\(/,
    /editor\.html/,
    /ctrl\.annotation/,
    /getLegacyAngularInjector/,
    /["']QueryCtrl["']/,
    /["']app\/core\/utils\/promiseToDigest["']/,
    /["']app\/plugins\/.*?\/(query|config)_ctrl["']/,
    /["']app\/core\/core_module["']/,
    /["']app\/core\/core["']/,
    /\bangular\b/,
    /templateUrl/,
  ];
  for (const pattern of patterns) {
    assert.doesNotMatch(SOURCE, pattern);
  }
});

test('loads as an anonymous AMD module of the four host modules and returns { plugin }', () => {
  const { exports, loader, data } = load();
  assert.equal(loader.calls.length, 1);
  assert.equal(loader.calls[0].name, null);
  assert.deepEqual(loader.calls[0].deps, HOST_MODULES);
  assert.deepEqual(Object.keys(exports), ['plugin']);
  assert.ok(exports.plugin instanceof data.DataSourcePlugin);
  assert.equal(data.created.length, 1);
});

test('also loads when react comes as an ES module namespace', () => {
  const { exports } = load({ reactAsNamespace: true });
  const { QueryEditor } = exports.plugin.components;
  const html = renderToStaticMarkup(React.createElement(QueryEditor, { query: { refId: 'A' }, onChange() {}, onRunQuery() {} }));
  assert.match(html, /Signal/);
});

test('registers a DataSourceWithBackend subclass with a config editor and a query editor', () => {
  const { exports, runtime } = load();
  const { plugin } = exports;
  assert.equal(typeof plugin.DataSourceClass, 'function');
  assert.ok(plugin.DataSourceClass.prototype instanceof runtime.DataSourceWithBackend);
  assert.equal(typeof plugin.components.ConfigEditor, 'function');
  assert.equal(typeof plugin.components.QueryEditor, 'function');
  const ds = new plugin.DataSourceClass(settings({ mqttUrl: 'mqtt://b:1883' }));
  assert.equal(ds.uid, 'rs1');
  assert.deepEqual(ds.connection, { mqttUrl: 'mqtt://b:1883', websocketUrl: '' });
});

test('the default query is the tutorial stream, a fresh copy each time', () => {
  const { exports } = load();
  const ds = new exports.plugin.DataSourceClass(settings());
  const expected = { source: 'signal', signal: 'random', tickMs: 100, capacity: 1000, backfill: true };
  const first = ds.getDefaultQuery('dashboard');
  assert.deepEqual(first, expected);
  first.signal = 'sine';
  assert.deepEqual(ds.getDefaultQuery('explore'), expected);
});

test('template variables are applied to topic and path, scoped ones first', () => {
  const { exports, runtime } = load({ variables: { room: 'kitchen', device: 'global-device' } });
  const ds = new exports.plugin.DataSourceClass(settings());
  const scoped = { device: { text: 'd-7', value: 'd-7' } };

  const mqtt = { refId: 'A', source: 'mqtt', topic: 'home/$room/+/${device}', timePath: 'ts', fields: ['t'] };
  const outMqtt = ds.applyTemplateVariables(mqtt, scoped);
  assert.deepEqual(outMqtt, { refId: 'A', source: 'mqtt', topic: 'home/kitchen/+/d-7', timePath: 'ts', fields: ['t'] });
  assert.equal(mqtt.topic, 'home/$room/+/${device}', 'the query itself is not changed');

  const ws = { refId: 'B', source: 'websocket', path: '/feed/[[room]]/$device' };
  assert.deepEqual(ds.applyTemplateVariables(ws, {}), { refId: 'B', source: 'websocket', path: '/feed/kitchen/global-device' });

  // The template service saw the scopedVars it was given.
  assert.deepEqual(
    runtime.replaceCalls.map((c) => [c.target, c.scopedVars]),
    [
      ['home/$room/+/${device}', scoped],
      ['/feed/[[room]]/$device', {}],
    ]
  );

  // A signal query has neither: it comes back as it was.
  const signal = { refId: 'C', source: 'signal', signal: 'sine', amplitude: 2 };
  assert.deepEqual(ds.applyTemplateVariables(signal, scoped), signal);
});

test('hidden queries and MQTT queries without a topic are not sent', () => {
  const { exports } = load();
  const ds = new exports.plugin.DataSourceClass(settings());
  assert.equal(ds.filterQuery(ds.getDefaultQuery()), true);
  assert.equal(ds.filterQuery({ refId: 'A', hide: true }), false);
  assert.equal(ds.filterQuery({ refId: 'A', source: 'mqtt' }), false);
  assert.equal(ds.filterQuery({ refId: 'A', source: 'mqtt', topic: 'a/#' }), true);
  assert.equal(ds.filterQuery({ refId: 'A', source: 'websocket' }), true);
});

/** Renders the query editor and returns the HTML and the props each stand-in received. */
function renderQuery(query, jsonData = {}) {
  const ctx = load();
  const { QueryEditor, } = ctx.exports.plugin.components;
  const ds = new ctx.exports.plugin.DataSourceClass(settings(jsonData));
  const changes = [];
  let runs = 0;
  const html = renderToStaticMarkup(
    React.createElement(QueryEditor, {
      query,
      datasource: ds,
      onChange: (q) => changes.push(q),
      onRunQuery: () => runs++,
    })
  );
  const fields = ctx.received.filter((r) => r.name === 'InlineField').map((r) => r.props);
  return { html, changes, runs: () => runs, fields, received: ctx.received };
}

function labels(fields) {
  return fields.map((f) => f.label);
}

test('the query editor shows each signal kind with its own parameters', () => {
  const expected = {
    random_walk: ['Start', 'Spread'],
    random: ['Min', 'Max'],
    sine: ['Amplitude', 'Period (ms)', 'Offset'],
    square: ['Amplitude', 'Period (ms)', 'Offset'],
    sawtooth: ['Amplitude', 'Period (ms)', 'Offset'],
    counter: ['Offset', 'Step'],
  };
  for (const [signal, params] of Object.entries(expected)) {
    const { fields } = renderQuery({ refId: 'A', source: 'signal', signal });
    assert.deepEqual(labels(fields), ['Source', 'Signal', ...params, 'Tick (ms)', 'Seed', 'Capacity', 'Backfill'], signal);
  }
  // No signal: the backend's default, random_walk.
  const { received } = renderQuery({ refId: 'A' });
  const signalSelect = received.find((r) => r.name === 'Select' && r.props.inputId === 'ringstream-signal-A');
  assert.equal(signalSelect.props.value, 'random_walk');
});

test('the query editor shows topic / path, time path and fields for MQTT and WebSocket', () => {
  const mqtt = renderQuery({ refId: 'A', source: 'mqtt', topic: 'a/+/c', fields: ['x'] }, { mqttUrl: 'mqtt://b:1883' });
  assert.deepEqual(labels(mqtt.fields), ['Source', 'Topic', 'Time path', 'Fields', 'Capacity', 'Backfill']);
  assert.doesNotMatch(mqtt.html, /role="alert"/);
  const tags = mqtt.received.find((r) => r.name === 'TagsInput');
  assert.deepEqual(tags.props.tags, ['x']);

  const noBroker = renderQuery({ refId: 'A', source: 'mqtt', topic: 'a' });
  assert.match(noBroker.html, /role="alert"[^>]*>No MQTT broker/);

  const ws = renderQuery({ refId: 'B', source: 'websocket', path: '/ticks' }, { websocketUrl: 'wss://feed.example' });
  assert.deepEqual(labels(ws.fields), ['Source', 'Path', 'Time path', 'Fields', 'Capacity', 'Backfill']);
  assert.match(ws.html, /Connects to wss:\/\/feed\.example\/ticks/);
});

test('the query editor flags values the backend refuses', () => {
  const problems = (query) => renderQuery(query).fields.filter((f) => f.invalid).map((f) => [f.label, f.error]);
  assert.deepEqual(problems({ refId: 'A', tickMs: 5, capacity: 200000 }), [
    ['Tick (ms)', 'At least 10'],
    ['Capacity', 'Between 1 and 100000'],
  ]);
  assert.deepEqual(problems({ refId: 'A', source: 'mqtt' }), [['Topic', 'A topic is needed, e.g. sensors/+/temperature']]);
  assert.deepEqual(problems({ refId: 'A', source: 'mqtt', topic: 'a/#/b' }), [['Topic', '# stands alone as the last level (sensors/#)']]);
  assert.deepEqual(problems({ refId: 'A', source: 'mqtt', topic: 'a/b+/c' }), [['Topic', '+ stands alone as a whole level (sensors/+/temperature)']]);
  assert.deepEqual(problems({ refId: 'A', source: 'mqtt', topic: 'a/+/$var/#' }), []);
});

test('query editor handlers produce the query (numbers parsed, empty removes the key)', () => {
  const { received, changes, runs } = renderQuery({ refId: 'A', source: 'signal', signal: 'sine', seed: 3 });
  const input = (id) => received.find((r) => r.name === 'Input' && r.props.id === id).props;
  const event = (value) => ({ currentTarget: { value, checked: value } });

  input('ringstream-amplitude-A').onChange(event('2.5'));
  input('ringstream-periodMs-A').onChange(event('1500.7'));
  input('ringstream-seed-A').onChange(event(''));
  assert.deepEqual(changes, [
    { refId: 'A', source: 'signal', signal: 'sine', seed: 3, amplitude: 2.5 },
    { refId: 'A', source: 'signal', signal: 'sine', seed: 3, periodMs: 1500 },
    { refId: 'A', source: 'signal', signal: 'sine' },
  ]);
  assert.equal(runs(), 0, 'typing does not run the query');
  input('ringstream-amplitude-A').onBlur();
  assert.equal(runs(), 1, 'leaving the field runs it');

  const backfill = received.find((r) => r.name === 'InlineSwitch').props;
  assert.equal(backfill.value, true);
  backfill.onChange(event(false));
  assert.equal(changes.at(-1).backfill, false);
  assert.equal(runs(), 2);

  const source = received.find((r) => r.name === 'Select' && r.props.inputId === 'ringstream-source-A').props;
  source.onChange({ value: 'websocket', label: 'WebSocket' });
  assert.equal(changes.at(-1).source, 'websocket');
  assert.equal(runs(), 3);
});

/** Renders the config editor with `options` and returns the stand-ins' props and the changes. */
function renderConfig(options) {
  const ctx = load();
  const { ConfigEditor } = ctx.exports.plugin.components;
  const changes = [];
  const html = renderToStaticMarkup(React.createElement(ConfigEditor, { options, onOptionsChange: (o) => changes.push(o) }));
  const byId = (name, id) => ctx.received.find((r) => r.name === name && r.props.id === id).props;
  return { html, changes, byId, received: ctx.received };
}

test('the config editor keeps secrets write-only: configured, reset, never echoed', () => {
  const options = {
    id: 1,
    name: 'Ringstream',
    jsonData: { mqttUrl: 'mqtts://broker:8883', tlsAuthWithCACert: true },
    secureJsonFields: { mqttPassword: true, tlsCACert: true },
  };
  const { html, changes, byId } = renderConfig(options);
  assert.doesNotMatch(html, /hunter2/);

  const password = byId('SecretInput', 'ringstream-cfg-mqttPassword');
  assert.equal(password.isConfigured, true);
  assert.equal(password.value, '');
  const header = byId('SecretInput', 'ringstream-cfg-httpHeaderValue1');
  assert.equal(header.isConfigured, false);
  const ca = byId('SecretTextArea', 'ringstream-cfg-tlsCACert');
  assert.equal(ca.isConfigured, true);

  password.onReset();
  assert.deepEqual(changes.at(-1), {
    ...options,
    secureJsonFields: { mqttPassword: false, tlsCACert: true },
    secureJsonData: { mqttPassword: '' },
  });
  header.onChange({ currentTarget: { value: 'Bearer t0ken' } });
  assert.deepEqual(changes.at(-1).secureJsonData, { httpHeaderValue1: 'Bearer t0ken' });
  assert.deepEqual(changes.at(-1).secureJsonFields, options.secureJsonFields, 'typing a secret leaves secureJsonFields alone');
});

test('the config editor writes jsonData and checks URL schemes', () => {
  const options = { id: 1, jsonData: { mqttUrl: 'http://broker', websocketUrl: 'wss://feed.example/ws' }, secureJsonFields: {} };
  const { changes, byId, received } = renderConfig(options);
  const problems = received
    .filter((r) => r.name === 'InlineField' && r.props.invalid)
    .map((r) => [r.props.label, r.props.error]);
  assert.deepEqual(problems, [['MQTT URL', 'Use mqtt:// or mqtts:// followed by host and port']]);

  byId('Input', 'ringstream-cfg-mqttClientId').onChange({ currentTarget: { value: 'dash-1' } });
  assert.deepEqual(changes.at(-1).jsonData, { ...options.jsonData, mqttClientId: 'dash-1' });
  byId('Input', 'ringstream-cfg-mqttUrl').onChange({ currentTarget: { value: '' } });
  assert.deepEqual(changes.at(-1).jsonData, { websocketUrl: 'wss://feed.example/ws' }, 'an emptied field is dropped');
  byId('InlineSwitch', 'ringstream-cfg-tlsSkipVerify').onChange({ currentTarget: { checked: true } });
  assert.equal(changes.at(-1).jsonData.tlsSkipVerify, true);
  // The CA certificate field appears only with "With CA certificate".
  assert.equal(received.some((r) => r.name === 'SecretTextArea'), false);
});
