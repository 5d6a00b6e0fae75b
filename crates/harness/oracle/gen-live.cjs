'use strict';
// gen-live.cjs: runs DataFrameJSON message sequences through the real @grafana/data
// StreamingDataFrame and writes ../tests/fixtures/live.json (with --check: regenerates in memory
// and compares byte for byte).
//
// Input:   {"maxLength": N, "maxDelta": ms|null, "action": "append"|"replace",
//           "messages": [DataFrameJSON, ...]}
//          DataFrameJSON = {"schema"?: {name?, refId?, meta?, fields: [{name, type, labels?, config?}]},
//                           "data"?: {"values": [[...], ...], "entities"?: [...], "nanos"?: [...]}}
// Output:  {"length": N, "fields": [{"name", "type", "labels"?, "config"?, "values": [...],
//          "nanos"?: [...]}]}: labels / config only when non-empty; nanos only when the field
//          carries them (StreamingDataFrame never does, see below); undefined printed as null;
//          NaN / Infinity / -Infinity printed as the strings "NaN" / "Infinity" / "-Infinity".
//          If fromDataFrameJSON or push throws: {"error": "<the exception message>"} (the
//          remaining messages are not run).
//
// How a case runs, like Grafana's LiveDataStream: the first message through
// StreamingDataFrame.fromDataFrameJSON(msg, {maxLength, maxDelta, action}), every later one
// through frame.push(msg). The real API matches the brief: fromDataFrameJSON(frame, opts) is
// literally `new StreamingDataFrame(getStreamingFrameOptions(opts))` followed by `push(frame)`
// (StreamingDataFrame.mjs, `_StreamingDataFrame.fromDataFrameJSON`); getStreamingFrameOptions
// turns maxDelta null into Infinity (`opts.maxDelta ?? Infinity`). Messages are deep-copied
// first, because push decodes entities into the message's own arrays and keeps those arrays as
// field values.
//
// What the library does that the fixtures record:
// - nanos: push() never reads data.nanos (only dataFrameFromJSON does, which StreamingDataFrame
//   does not use), so no field ever carries nanos and "nanos" never appears in an output.
// - The first data (while the frame length is 0) is taken whole, never trimmed; with action
//   "replace" push() never trims at all (`if (this.alwaysReplace || !this.length)`).
// - maxDelta trimming keeps from closestIdx(newest - maxDelta): the sample *closest* to the
//   window start, which may lie just outside the window (ties keep the older sample).
//
// Generated inputs deliberately avoid (no fixture would be meaningful for them):
// - the "labels" push mode (first field a string named "labels"/"Labels" and time second);
// - ragged data (columns of different lengths in one message);
// - with maxDelta set: null/undefined time values (JS arithmetic treats null as 0 but undefined as
//   NaN, which a typed reimplementation cannot tell apart); so the single time field keeps its
//   name and type through every schema change and entities never touch it;
// - duplicate field names in a schema (the library would share one values array between them);
// - -0 and non-finite numbers in values (they go through entities instead), lone surrogates.
// Only the hand-named "data-first-*" cases send data before any schema (the library then
// guesses field names and types).

const { StreamingDataFrame } = require('@grafana/data');
const { GRAFANA_DATA_VERSION, Rng, cell, randomNumber, assertJsonSafe, render, writeOrCheck } = require('./common.cjs');

// ---------------------------------------------------------------------------------------------
// Running a case

function isNonEmptyObject(o) {
  return o != null && typeof o === 'object' && Object.keys(o).length > 0;
}

function runInput(input) {
  const messages = JSON.parse(JSON.stringify(input.messages));
  const opts = { maxLength: input.maxLength, maxDelta: input.maxDelta, action: input.action };
  let frame;
  try {
    messages.forEach((msg, i) => {
      if (i === 0) {
        frame = StreamingDataFrame.fromDataFrameJSON(msg, opts);
      } else {
        frame.push(msg);
      }
    });
  } catch (e) {
    return { error: e.message };
  }
  const length = frame.length;
  const fields = frame.fields.map((f) => {
    if (f.values.length !== length) {
      throw new Error(`field ${f.name} has ${f.values.length} values, the frame ${length}`);
    }
    const out = { name: f.name, type: f.type };
    if (isNonEmptyObject(f.labels)) {
      out.labels = f.labels;
    }
    if (isNonEmptyObject(f.config)) {
      out.config = f.config;
    }
    out.values = Array.from(f.values, cell);
    if (f.nanos != null) {
      out.nanos = Array.from(f.nanos, cell);
    }
    return out;
  });
  return { length, fields };
}

// ---------------------------------------------------------------------------------------------
// Builders

const F = (name, type, extra) => ({ name, type, ...(extra || {}) });
const schema = (fields, extra) => ({ ...(extra || {}), fields });
const msg = (s, values, extra) => {
  const m = {};
  if (s) {
    m.schema = s;
  }
  if (values) {
    m.data = { values, ...(extra || {}) };
  }
  return m;
};
const input = (maxLength, maxDelta, action, messages) => ({ maxLength, maxDelta, action, messages });
const TV = [F('time', 'time'), F('value', 'number')];
const T0 = 1700000000000;
const times = (n, start = T0, step = 1000) => Array.from({ length: n }, (_, i) => start + i * step);
const nums = (n, start = 1) => Array.from({ length: n }, (_, i) => start + i);

// ---------------------------------------------------------------------------------------------
// Hand-named edge cases (first in the file)

function namedCases() {
  const c = [];
  const add = (name, inp) => c.push({ name, input: inp });

  add('schema-and-data-first-message', input(10, null, 'append', [msg(schema(TV, { name: 'cpu', refId: 'A' }), [times(3), [1.5, 2.5, 3.5]])]));
  add('data-only-appends', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [times(2, T0 + 2000), [3, 4]]), msg(null, [[T0 + 4000], [5]])]));
  add('first-data-taken-whole-then-trimmed', input(3, null, 'append', [msg(schema(TV), [times(5), nums(5)]), msg(null, [times(2, T0 + 5000), [6, 7]])]));
  add('first-data-taken-whole-when-alone', input(2, 1000, 'append', [msg(schema(TV), [times(6), nums(6)])]));
  add('max-length-one', input(1, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [[T0 + 2000], [3]]), msg(null, [[T0 + 3000, T0 + 4000], [4, 5]])]));
  add('max-delta-trims-old-times', input(100, 2500, 'append', [msg(schema(TV), [times(3), nums(3)]), msg(null, [times(4, T0 + 3000), nums(4, 4)])]));
  add('max-delta-keeps-closest-sample-inside', input(100, 1000, 'append', [msg(schema(TV), [[T0, T0 + 100, T0 + 900], [1, 2, 3]]), msg(null, [[T0 + 1800], [4]])]));
  add('max-delta-keeps-closest-sample-outside', input(100, 1000, 'append', [msg(schema(TV), [[T0, T0 + 700, T0 + 1500], [1, 2, 3]]), msg(null, [[T0 + 1800], [4]])]));
  add('max-delta-tie-keeps-older', input(100, 1500, 'append', [msg(schema(TV), [[T0, T0 + 1000, T0 + 2000], [1, 2, 3]]), msg(null, [[T0 + 3000], [4]])]));
  add('max-delta-duplicate-times', input(100, 1000, 'append', [msg(schema(TV), [[T0, T0, T0 + 500, T0 + 500], [1, 2, 3, 4]]), msg(null, [[T0 + 1500, T0 + 1500], [5, 6]])]));
  add('max-delta-out-of-order-times', input(100, 1000, 'append', [msg(schema(TV), [[T0 + 5000, T0, T0 + 3000, T0 + 1000], [1, 2, 3, 4]]), msg(null, [[T0 + 4500, T0 + 2000], [5, 6]])]));
  add('max-delta-and-max-length', input(4, 3000, 'append', [msg(schema(TV), [times(3), nums(3)]), msg(null, [times(5, T0 + 3000), nums(5, 4)])]));
  add('max-delta-time-not-first', input(100, 1000, 'append', [msg(schema([F('value', 'number'), F('ts', 'time')]), [[1, 2], times(2)]), msg(null, [[3, 4], times(2, T0 + 2000)])]));
  add('max-delta-without-time-field-ignored', input(100, 1, 'append', [msg(schema([F('a', 'number'), F('b', 'string')]), [[1, 2], ['x', 'y']]), msg(null, [[3], ['z']])]));
  add('action-replace-never-trims', input(2, 1000, 'replace', [msg(schema(TV), [times(3), nums(3)]), msg(null, [times(5, T0 + 9000), nums(5, 10)])]));
  add('action-replace-empty-data-keeps-values', input(5, null, 'replace', [msg(schema(TV), [times(3), nums(3)]), msg(null, [[], []])]));
  add('schema-only-first-then-data-taken-whole', input(2, null, 'append', [msg(schema(TV)), msg(null, [times(4), nums(4)]), msg(null, [[T0 + 4000], [5]])]));
  add(
    'same-schema-keeps-data-updates-labels-config',
    input(10, null, 'append', [
      msg(schema([F('time', 'time'), F('value', 'number', { labels: { host: 'a' }, config: { unit: 'ms' } })]), [times(2), [1, 2]]),
      msg(schema([F('time', 'time', { config: { interval: 1000 } }), F('value', 'number', { labels: { host: 'b', dc: 'eu' }, config: { displayName: 'Latency' } })]), [[T0 + 2000], [3]]),
    ])
  );
  add(
    'same-schema-without-labels-clears-them',
    input(10, null, 'append', [msg(schema([F('time', 'time'), F('value', 'number', { labels: { host: 'a' }, config: { unit: 'ms' } })]), [times(2), [1, 2]]), msg(schema(TV))])
  );
  add('schema-field-added-pads-nulls', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(schema([...TV, F('status', 'string')]), [[T0 + 2000], [3], ['up']])]));
  add('schema-field-removed-keeps-others', input(10, null, 'append', [msg(schema([...TV, F('status', 'string')]), [times(2), [1, 2], ['a', 'b']]), msg(schema(TV), [[T0 + 2000], [3]])]));
  add('schema-field-renamed-loses-values', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(schema([F('time', 'time'), F('v', 'number')]), [[T0 + 2000], [3]])]));
  add('schema-type-changed-loses-values', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(schema([F('time', 'time'), F('value', 'string')]), [[T0 + 2000], ['three']])]));
  add('schema-reordered-keeps-values', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(schema([F('value', 'number'), F('time', 'time')]), [[3], [T0 + 2000]])]));
  add('schema-change-all-new-fields-keep-length', input(10, null, 'append', [msg(schema(TV), [times(3), [1, 2, 3]]), msg(schema([F('a', 'string'), F('b', 'boolean')])), msg(null, [['x'], [true]])]));
  add('schema-change-then-append-trims', input(3, null, 'append', [msg(schema(TV), [times(3), [1, 2, 3]]), msg(schema([...TV, F('ok', 'boolean')]), [times(2, T0 + 3000), [4, 5], [true, false]])]));
  add(
    'time-with-nanos-are-dropped',
    input(10, null, 'append', [
      msg(schema(TV), [times(3), [1, 2, 3]], { nanos: [[1, 500000, 999999], null] }),
      msg(null, [[T0 + 3000], [4]], { nanos: [[123456], null] }),
    ])
  );
  add(
    'entities-nan-inf-neginf',
    input(10, null, 'append', [
      msg(schema(TV), [times(4), [null, 1, null, null]], { entities: [null, { NaN: [0], Inf: [2], NegInf: [3] }] }),
      msg(null, [times(2, T0 + 4000), [null, 5]], { entities: [null, { NegInf: [0] }] }),
    ])
  );
  add('entities-index-past-end-ignored', input(10, null, 'append', [msg(schema(TV), [times(2), [null, 1]], { entities: [null, { NaN: [0, 7] }] })]));
  add('entities-undef', input(10, null, 'append', [msg(schema(TV), [times(2), [5, 1]], { entities: [null, { Undef: [0] }] })]));
  add('entities-for-missing-column-throws', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [[T0 + 2000], [3]], { entities: [null, null, { NaN: [0] }] })]));
  add(
    'strings-unicode-quotes-control',
    input(20, null, 'append', [
      msg(schema([F('time', 'time'), F('s', 'string')]), [
        times(10),
        ['', 'héllo', '日本語', '🚀', 'say "hi"', 'back\\slash', 'two\nlines', '\u0000\u0001\u001f\u007f', 'NaN', null],
      ]),
    ])
  );
  add('booleans-and-nulls', input(10, null, 'append', [msg(schema([F('time', 'time'), F('ok', 'boolean')]), [times(3), [true, null, false]]), msg(null, [[T0 + 3000, null], [null, true]])]));
  add('push-message-mismatch-error', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [[T0 + 2000], [3], ['extra']])]));
  add('first-message-mismatch-error', input(10, null, 'append', [msg(schema(TV), [times(2)])]));
  add('empty-data-message-ignored', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [])]));
  add('empty-data-wrong-width-ignored', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), msg(null, [[], [], []])]));
  add('empty-message-ignored', input(10, null, 'append', [msg(schema(TV), [times(2), [1, 2]]), {}]));
  add('empty-first-message', input(10, null, 'append', [{}]));
  add('schema-with-no-fields', input(10, null, 'append', [msg(schema([]))]));
  add('numbers-extremes', input(20, null, 'append', [msg(schema([F('n', 'number')]), [[0, -1, 0.1, 1e-300, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 9007199254740991, 1e21, -1e-7, 0.30000000000000004]])]));
  add('data-first-guesses-time-and-number', input(10, null, 'append', [msg(null, [times(2), [1.5, 2.5]]), msg(null, [[T0 + 2000], [3.5]])]));
  add('data-first-guesses-string-and-boolean', input(10, null, 'append', [msg(null, [[1, 2], ['a', 'b'], [true, false]])]));
  return c;
}

// ---------------------------------------------------------------------------------------------
// Random cases

const NAME_POOL = ['value', 'temp', 'host', 'ok', 'status', 'latency_ms', 'cpu %', 'Wärme', '温度', 'a "q"', 'x.y', 'v2', 'flag', 'msg', 'count', 'level', 'ts2'];
const STRING_POOL = [
  '', 'a', 'ok', 'error', 'héllo', 'Grüße', '日本語テキスト', '🚀', 'ünïcödé ✓', 'say "hi"', "it's", 'back\\slash', 'two\nlines',
  'tab\there', 'cr\r\nlf', '\u0000nul', '\u0001ctl\u001f', 'del\u007f', '\u2028sep\u2029', '   ', 'null', 'true', '42', 'NaN', 'Infinity', '{"json": 1}',
];
const LABEL_POOL = [{ host: 'a' }, { host: 'b', dc: 'eu' }, { job: 'node', instance: 'x:9100' }, { 'k"q': 'v\\w' }, { région: 'Île' }, {}];
const CONFIG_POOL = [{ unit: 'ms' }, { displayName: 'CPU' }, { decimals: 2 }, { min: 0, max: 100 }, { custom: { width: 3 } }, { unit: 'percent', decimals: 1 }, {}];
const TYPES = ['number', 'string', 'boolean', 'time'];


function randomCase(rng, index) {
  const maxLength = rng.weighted([
    [8, 1],
    [8, 2],
    [8, 3],
    [10, 5],
    [40, rng.int(4, 20)],
    [14, 50],
    [12, 500],
  ]);
  const maxDelta = rng.chance(0.45) ? rng.pick([500, 1000, 2500, 5000, 10000, rng.int(1, 20000)]) : null;
  const action = rng.chance(0.18) ? 'replace' : 'append';
  const withNanos = rng.chance(0.3);
  const state = { t: T0 + rng.int(0, 1e6) * 1000 };
  const names = rng.shuffle(NAME_POOL);
  let nextName = 0;
  const freshName = () => names[nextName++ % names.length] + (nextName > names.length ? `_${nextName}` : '');
  const maybeDecorate = (f) => {
    if (rng.chance(0.2)) {
      f.labels = { ...rng.pick(LABEL_POOL) };
    }
    if (rng.chance(0.2)) {
      f.config = JSON.parse(JSON.stringify(rng.pick(CONFIG_POOL)));
    }
    return f;
  };
  // With maxDelta there is exactly one time field, kept through every schema change.
  const timeName = rng.pick(['time', 'Time', 'ts', 'timestamp']);
  const otherType = () => (maxDelta == null ? rng.pick(TYPES) : rng.pick(TYPES.slice(0, 3)));

  let fields;
  if (maxDelta != null || rng.chance(0.85)) {
    fields = [F(timeName, 'time')];
    const n = rng.weighted([
      [10, 0],
      [50, 1],
      [28, 2],
      [12, 3],
    ]);
    for (let i = 0; i < n; i++) {
      fields.push(F(freshName(), otherType()));
    }
    if (rng.chance(0.15)) {
      fields = rng.shuffle(fields);
    }
  } else {
    fields = Array.from({ length: rng.int(1, 3) }, () => F(freshName(), otherType()));
  }
  fields = fields.map(maybeDecorate);

  const makeData = (rows) => {
    const values = [];
    const entities = [];
    const nanos = [];
    let anyEntity = false;
    let anyNanos = false;
    const timeStep = () =>
      rng.weighted([
        [60, 1000],
        [15, rng.int(1, 999)],
        [10, 0],
        [10, rng.int(1000, 20000)],
        [maxDelta == null ? 5 : 0, -rng.int(1, 5000)],
      ]);
    let timeSeen = false;
    for (const f of fields) {
      const col = [];
      const ents = {};
      const ns = [];
      for (let r = 0; r < rows; r++) {
        let v;
        switch (f.type) {
          case 'time':
            if (!timeSeen) {
              state.t += timeStep();
            }
            v = timeSeen ? state.t + rng.int(-5000, 5000) : state.t;
            if (maxDelta == null && rng.chance(0.04)) {
              v = null;
            }
            ns.push(withNanos && v != null && rng.chance(0.8) ? rng.int(0, 999999) : 0);
            break;
          case 'number': {
            const r2 = rng.next();
            if (r2 < 0.08) {
              v = null;
            } else if (r2 < 0.15) {
              v = null;
              const key = rng.pick(['NaN', 'Inf', 'NegInf']);
              (ents[key] = ents[key] || []).push(r);
            } else {
              v = randomNumber(rng, []);
            }
            break;
          }
          case 'string':
            v = rng.chance(0.08) ? null : rng.chance(0.6) ? rng.pick(STRING_POOL) : `s${rng.int(0, 99999)}`;
            break;
          case 'boolean':
            v = rng.chance(0.1) ? null : rng.chance(0.5);
            break;
          default:
            throw new Error(f.type);
        }
        col.push(v);
      }
      if (f.type === 'time') {
        // only the first time field advances the clock; any later one stays near it
        timeSeen = true;
      }
      values.push(col);
      if (Object.keys(ents).length) {
        anyEntity = true;
        entities.push(ents);
      } else {
        entities.push(null);
      }
      if (f.type === 'time' && ns.some((x) => x !== 0)) {
        anyNanos = true;
        nanos.push(ns);
      } else {
        nanos.push(null);
      }
    }
    const data = { values };
    if (anyEntity) {
      data.entities = entities;
    }
    if (anyNanos) {
      data.nanos = nanos;
    }
    return data;
  };
  const rowsCount = () =>
    rng.weighted([
      [50, rng.int(1, 3)],
      [35, rng.int(4, 8)],
      [15, rng.int(9, maxLength >= 50 ? 40 : 15)],
    ]);
  const schemaMsg = () => {
    const s = { fields: fields.map((f) => JSON.parse(JSON.stringify(f))) };
    if (rng.chance(0.2)) {
      s.name = rng.pick(['frame', 'cpu', '']);
    }
    if (rng.chance(0.2)) {
      s.refId = rng.pick(['A', 'B']);
    }
    if (rng.chance(0.1)) {
      s.meta = { executedQueryString: 'q' };
    }
    return s;
  };
  const changeSchema = () => {
    const kind = rng.pick(['add', 'remove', 'rename', 'retype', 'reorder', 'replace-all']);
    const movable = fields.filter((f) => !(maxDelta != null && f.type === 'time'));
    switch (kind) {
      case 'add':
        if (fields.length < 6) {
          fields.splice(rng.int(0, fields.length), 0, maybeDecorate(F(freshName(), otherType())));
        }
        break;
      case 'remove':
        if (movable.length && fields.length > 1) {
          const victim = rng.pick(movable);
          fields = fields.filter((f) => f !== victim);
        }
        break;
      case 'rename':
        if (movable.length) {
          rng.pick(movable).name = freshName();
        }
        break;
      case 'retype':
        if (movable.length) {
          const f = rng.pick(movable);
          const types = (maxDelta == null ? TYPES : TYPES.slice(0, 3)).filter((t) => t !== f.type);
          f.type = rng.pick(types);
        }
        break;
      case 'reorder':
        fields = rng.shuffle(fields);
        break;
      default: {
        const keep = fields.filter((f) => maxDelta != null && f.type === 'time');
        fields = [...keep, ...Array.from({ length: rng.int(1, 3) }, () => maybeDecorate(F(freshName(), otherType())))];
      }
    }
  };
  const relabel = () => {
    for (const f of fields) {
      if (rng.chance(0.5)) {
        delete f.labels;
        delete f.config;
        maybeDecorate(f);
      }
    }
  };

  const messages = [];
  const first = rng.weighted([
    [70, 'schema+data'],
    [18, 'schema'],
    [6, 'schema+empty'],
    [6, 'schema+data+mismatch'],
  ]);
  if (first === 'schema') {
    messages.push({ schema: schemaMsg() });
  } else if (first === 'schema+empty') {
    messages.push({ schema: schemaMsg(), data: { values: fields.map(() => []) } });
  } else {
    messages.push({ schema: schemaMsg(), data: makeData(rowsCount()) });
  }
  if (first === 'schema+data+mismatch' && index % 2 === 0) {
    messages[0].data.values.push([1]);
    return input(maxLength, maxDelta, action, messages);
  }
  const more = rng.weighted([
    [10, rng.int(0, 1)],
    [60, rng.int(2, 5)],
    [30, rng.int(6, 10)],
  ]);
  for (let i = 0; i < more; i++) {
    const kind = rng.weighted([
      [58, 'data'],
      [6, 'same-schema+data'],
      [6, 'same-schema'],
      [10, 'change+data'],
      [6, 'change'],
      [5, 'empty'],
      [2, 'mismatch'],
      [1, 'nothing'],
    ]);
    switch (kind) {
      case 'data':
        messages.push({ data: makeData(rowsCount()) });
        break;
      case 'same-schema+data':
        relabel();
        messages.push({ schema: schemaMsg(), data: makeData(rowsCount()) });
        break;
      case 'same-schema':
        relabel();
        messages.push({ schema: schemaMsg() });
        break;
      case 'change+data':
        changeSchema();
        messages.push({ schema: schemaMsg(), data: makeData(rowsCount()) });
        break;
      case 'change':
        changeSchema();
        messages.push({ schema: schemaMsg() });
        break;
      case 'empty':
        messages.push({ data: { values: rng.chance(0.5) ? [] : Array.from({ length: rng.int(1, 4) }, () => []) } });
        break;
      case 'mismatch': {
        const data = makeData(rng.int(1, 3));
        if (data.values.length > 1 && rng.chance(0.5)) {
          data.values.pop();
          if (data.entities) {
            data.entities.pop();
          }
          if (data.nanos) {
            data.nanos.pop();
          }
        } else {
          data.values.push(data.values[0].map(() => 0));
        }
        messages.push({ data });
        i = more; // the library throws here; nothing after it would run
        break;
      }
      default:
        messages.push({});
    }
  }
  return input(maxLength, maxDelta, action, messages);
}

// ---------------------------------------------------------------------------------------------

function main() {
  const cases = namedCases();
  const rng = new Rng(0x4c495645); // "LIVE"
  const RANDOM_CASES = 180;
  for (let i = 0; i < RANDOM_CASES; i++) {
    const inp = randomCase(rng, i);
    const dt = inp.maxDelta == null ? '' : `-delta${inp.maxDelta}`;
    cases.push({ name: `random-${String(i).padStart(3, '0')}-${inp.action}-len${inp.maxLength}${dt}`, input: inp });
  }
  const out = cases.map(({ name, input: inp }) => {
    assertJsonSafe(inp, name);
    return { name, input: inp, frame: runInput(inp) };
  });
  const text = render(`@grafana/data ${GRAFANA_DATA_VERSION} StreamingDataFrame`, out);
  writeOrCheck('live.json', text, out.length);
}

main();
