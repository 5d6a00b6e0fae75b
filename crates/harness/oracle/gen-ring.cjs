'use strict';
// gen-ring.cjs: runs op scripts through the real @grafana/data CircularDataFrame and writes
// ../tests/fixtures/ring.json (with --check: regenerates in memory and compares byte for byte).
//
// Script:  {"append": "tail"|"head", "capacity": N, "ops": [
//             {"op": "addField", "name": "time", "type": "time"},      // time|number|string|boolean
//             {"op": "add", "row": {"time": 1000, "value": 1.5}},
//             {"op": "setCapacity", "capacity": 5}]}
// Output:  {"length": N, "fields": [{"name", "type", "values": [...]}]}: values in the frame's
//          own order (field.values.get(i) for i < frame.length; head mode is newest first),
//          undefined printed as null.
//
// How a script runs: new CircularDataFrame({append, capacity}); addField -> frame.addField({name,
// type}); add -> frame.add(row); setCapacity -> field.values.setCapacity(n) on every field.
//
// Two deliberate rules, where the library alone would be unusable or where Rust is stricter:
//
// (a) A field added after a setCapacity gets the *current* capacity. The library would give it
//     the constructor's capacity and the field lengths would diverge. Calling
//     values.setCapacity(current) right after addField is not enough on its own: addField pads the
//     new field to the frame length *inside* addField (MutableDataFrame.validate:
//     `while (field.values.length !== length) field.values.push(MISSING_VALUE)`), and when the
//     frame has grown past the constructor's capacity that loop never ends (the ring tops out at
//     the old capacity). So the current capacity is also written into the options object that
//     CircularDataFrame's field creator reads on every addField
//     (CircularDataFrame.mjs: `new CircularVector({...options, buffer})`), and setCapacity(current)
//     is still called right after addField (then a no-op). The result is exactly what
//     "addField, then setCapacity(current)" means whenever that terminates.
// (b) Row values are always of the field's type, null, or missing: add() would parse strings into
//     other types (MutableDataFrame.add -> parseValue), and the Rust side rejects wrong types on
//     purpose. Time values are epoch milliseconds.
//
// Generated inputs also avoid: capacity 0 (Rust refuses it), field names that are
// Object.prototype properties ("constructor", "__proto__", ...: add() reads `row[name]`, so a
// missing key would read the prototype), empty field names (addField renames them "Field N"),
// -0 and non-finite numbers (JSON cannot carry them), lone surrogates in strings.

const { CircularDataFrame } = require('@grafana/data');
const { GRAFANA_DATA_VERSION, Rng, cell, randomNumber, assertJsonSafe, render, writeOrCheck } = require('./common.cjs');

const TYPES = ['time', 'number', 'string', 'boolean'];

// ---------------------------------------------------------------------------------------------
// Running a script

function runScript(script) {
  const options = { append: script.append, capacity: script.capacity };
  const frame = new CircularDataFrame(options);
  let capacity = script.capacity;
  for (const op of script.ops) {
    switch (op.op) {
      case 'addField': {
        if (frame.fields.some((f) => f.name === op.name)) {
          throw new Error(`generator bug: duplicate field name ${op.name}`);
        }
        options.capacity = capacity; // rule (a), see the top of this file
        const field = frame.addField({ name: op.name, type: op.type });
        field.values.setCapacity(capacity);
        break;
      }
      case 'add':
        frame.add(op.row);
        break;
      case 'setCapacity':
        capacity = op.capacity;
        for (const field of frame.fields) {
          field.values.setCapacity(capacity);
        }
        break;
      default:
        throw new Error(`generator bug: unknown op ${op.op}`);
    }
  }
  const length = frame.length;
  const fields = frame.fields.map((f) => {
    if (f.values.length !== length) {
      throw new Error(`field ${f.name} has ${f.values.length} values, the frame ${length}`);
    }
    const values = [];
    for (let i = 0; i < length; i++) {
      values.push(cell(f.values.get(i)));
    }
    return { name: f.name, type: f.type, values };
  });
  return { length, fields };
}

// ---------------------------------------------------------------------------------------------
// Builders

const addField = (name, type) => ({ op: 'addField', name, type });
const add = (row) => ({ op: 'add', row });
const setCap = (capacity) => ({ op: 'setCapacity', capacity });
const tv = (t, v) => add({ time: t, value: v });
const TV = [addField('time', 'time'), addField('value', 'number')];

// ---------------------------------------------------------------------------------------------
// Hand-named edge cases (first in the file)

function namedCases() {
  const rows = (n, t0 = 1000) => Array.from({ length: n }, (_, i) => tv(t0 + i * 1000, i + 0.5));
  return [
    ['tail-wraps-at-capacity', { append: 'tail', capacity: 3, ops: [...TV, ...rows(5)] }],
    ['tail-below-capacity-grows', { append: 'tail', capacity: 5, ops: [...TV, ...rows(3)] }],
    ['head-newest-first', { append: 'head', capacity: 3, ops: [...TV, ...rows(2)] }],
    ['head-wraps-newest-first', { append: 'head', capacity: 3, ops: [...TV, ...rows(7)] }],
    ['capacity-one', { append: 'tail', capacity: 1, ops: [...TV, ...rows(4)] }],
    ['capacity-one-head', { append: 'head', capacity: 1, ops: [...TV, ...rows(4)] }],
    ['empty-frame', { append: 'tail', capacity: 10, ops: [] }],
    ['fields-but-no-rows', { append: 'tail', capacity: 10, ops: [...TV] }],
    ['rows-before-any-field-are-dropped', { append: 'tail', capacity: 4, ops: [tv(1000, 1), tv(2000, 2), ...TV, tv(3000, 3)] }],
    [
      'late-field-null-for-older-rows',
      { append: 'tail', capacity: 5, ops: [...TV, ...rows(2), addField('status', 'string'), add({ time: 3000, value: 3, status: 'up' }), tv(4000, 4)] },
    ],
    [
      'late-field-after-wrap',
      { append: 'tail', capacity: 3, ops: [...TV, ...rows(5), addField('ok', 'boolean'), add({ time: 9000, value: 9, ok: true })] },
    ],
    [
      'late-field-head-after-wrap',
      { append: 'head', capacity: 3, ops: [...TV, ...rows(5), addField('ok', 'boolean'), add({ time: 9000, value: 9, ok: false })] },
    ],
    [
      'missing-unknown-and-null-keys',
      {
        append: 'tail',
        capacity: 4,
        ops: [...TV, add({ time: 1000 }), add({ value: 2 }), add({ time: 3000, value: null, extra: 'ignored' }), add({}), add({ nope: 1 })],
      },
    ],
    ['shrink-keeps-newest-tail', { append: 'tail', capacity: 5, ops: [...TV, ...rows(4), setCap(2)] }],
    ['shrink-keeps-newest-head', { append: 'head', capacity: 5, ops: [...TV, ...rows(4), setCap(2)] }],
    ['shrink-after-wrap-tail', { append: 'tail', capacity: 4, ops: [...TV, ...rows(7), setCap(2), tv(8000, 8)] }],
    ['shrink-above-length-keeps-all', { append: 'tail', capacity: 10, ops: [...TV, ...rows(3), setCap(5), ...rows(4, 4000)] }],
    ['set-capacity-same-value', { append: 'tail', capacity: 3, ops: [...TV, ...rows(4), setCap(3), tv(5000, 5)] }],
    ['grow-after-wrap-keeps-order', { append: 'tail', capacity: 3, ops: [...TV, ...rows(5), setCap(6), ...rows(4, 6000)] }],
    ['grow-after-wrap-keeps-order-head', { append: 'head', capacity: 3, ops: [...TV, ...rows(5), setCap(6), ...rows(4, 6000)] }],
    [
      'late-field-after-grow-gets-current-capacity',
      { append: 'tail', capacity: 2, ops: [...TV, ...rows(3), setCap(5), ...rows(2, 4000), addField('note', 'string'), add({ time: 6000, value: 6, note: 'n' }), ...rows(2, 7000)] },
    ],
    [
      'late-field-after-shrink-gets-current-capacity',
      { append: 'head', capacity: 6, ops: [...TV, ...rows(4), setCap(2), addField('note', 'string'), add({ time: 5000, value: 5, note: 'x' }), tv(6000, 6)] },
    ],
    ['set-capacity-without-fields', { append: 'tail', capacity: 3, ops: [setCap(1), setCap(4), ...TV, ...rows(6)] }],
    [
      'strings-unicode-quotes-newlines',
      {
        append: 'tail',
        capacity: 12,
        ops: [
          addField('s', 'string'),
          ...['', 'plain', 'héllo wörld', '日本語', 'emoji 🚀🔥', 'say "hi"', 'back\\slash', 'line\nbreak\ttab', 'NaN', 'null'].map((s) => add({ s })),
        ],
      },
    ],
    [
      'numbers-extremes',
      {
        append: 'tail',
        capacity: 16,
        ops: [
          addField('n', 'number'),
          ...[0, -1, 0.1, -0.1, 1e-300, -2.5e-308, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 9007199254740991, 9007199254740993, 123456789.123456, 1e21, -1e-7, 0.30000000000000004].map((n) => add({ n })),
        ],
      },
    ],
    [
      'time-binary-fractions',
      { append: 'tail', capacity: 4, ops: [addField('time', 'time'), ...[1000.5, 1001.25, 1002.125, 1700000000000.5, 0].map((t) => add({ time: t }))] },
    ],
  ].map(([name, script]) => ({ name, script }));
}

// ---------------------------------------------------------------------------------------------
// Random cases

const NAME_POOL = [
  'time', 'value', 'temp', 'host', 'ok', 'status', 'latency_ms', 'cpu %', 'Wärme', '温度',
  'a "quoted" name', 'x.y', 'with space', 'Time', 'v2', 'flag', 'msg', 'count', 'ts', 'r',
];

const STRING_POOL = [
  '', 'a', 'ok', 'error', 'héllo', 'Grüße', '日本語テキスト', '🚀', 'ünïcödé ✓', 'say "hi"',
  "it's", 'back\\slash', 'two\nlines', 'tab\there', 'cr\r\nlf', '\u0001ctl\u001f', '   ', 'null',
  'true', '42', 'NaN', '{"json": 1}', 'x'.repeat(40),
];


function randomTime(rng, state) {
  state.t += rng.weighted([
    [60, 1000],
    [15, rng.int(1, 500)],
    [10, 0],
    [10, rng.int(1000, 100000)],
    [5, -rng.int(1, 5000)],
  ]);
  let t = state.t;
  if (rng.chance(0.1)) {
    t += rng.pick([0.5, 0.25, 0.125, 0.75, 0.375]);
  }
  return t;
}

function randomValue(rng, type, state) {
  switch (type) {
    case 'time':
      return randomTime(rng, state);
    case 'number':
      return randomNumber(rng, [[5, () => rng.int(-1e9, 1e9) * 1000]]);
    case 'string':
      return rng.chance(0.6) ? rng.pick(STRING_POOL) : `s${rng.int(0, 99999)}`;
    case 'boolean':
      return rng.chance(0.5);
    default:
      throw new Error(type);
  }
}

function randomCase(rng, index) {
  const append = rng.chance(0.5) ? 'tail' : 'head';
  const big = index % 40 === 7; // a few hundreds-large capacities
  let capacity = big
    ? rng.int(100, 400)
    : rng.weighted([
        [12, 1],
        [12, 2],
        [12, 3],
        [50, rng.int(4, 12)],
        [14, rng.int(13, 40)],
      ]);
  const script = { append, capacity, ops: [] };
  const names = rng.shuffle(NAME_POOL);
  const fields = []; // {name, type}
  const state = { t: rng.chance(0.8) ? 1700000000000 + rng.int(0, 1e6) * 1000 : rng.int(0, 100000) };
  let length = 0;
  let maxCapacity = capacity;

  const addNewField = (type) => {
    const name = names[fields.length];
    type = type || rng.pick(TYPES);
    fields.push({ name, type });
    script.ops.push(addField(name, type));
  };
  const addRow = () => {
    const row = {};
    for (const f of fields) {
      const r = rng.next();
      if (r < 0.78) {
        row[f.name] = randomValue(rng, f.type, state);
      } else if (r < 0.88) {
        row[f.name] = null;
      } // else: missing key
    }
    if (rng.chance(0.12)) {
      // an unknown key: either a name never used, or a field added later
      const extra = rng.chance(0.5) ? names[fields.length] || 'zz' : `unknown_${rng.int(0, 9)}`;
      if (!fields.some((f) => f.name === extra)) {
        row[extra] = rng.chance(0.5) ? rng.int(0, 9) : 'u';
      }
    }
    if (rng.chance(0.2)) {
      // shuffle key order: the row is a JSON object, order must not matter
      const shuffled = {};
      for (const k of rng.shuffle(Object.keys(row))) {
        shuffled[k] = row[k];
      }
      script.ops.push(add(shuffled));
    } else {
      script.ops.push(add(row));
    }
    if (fields.length) {
      length = Math.min(length + 1, capacity);
    }
  };
  const changeCapacity = () => {
    const kind = rng.pick(['grow', 'shrink-below', 'shrink-above', 'same', 'grow-more']);
    let n;
    switch (kind) {
      case 'grow':
        n = capacity + rng.int(1, 8);
        break;
      case 'grow-more':
        n = capacity + rng.int(10, 60);
        break;
      case 'shrink-below':
        n = length > 1 ? rng.int(1, length - 1) : 1;
        break;
      case 'shrink-above':
        n = capacity - 1 > length ? rng.int(length + 1, capacity - 1) : Math.max(1, capacity - 1);
        break;
      default:
        n = capacity;
    }
    n = Math.max(1, n);
    capacity = n;
    maxCapacity = Math.max(maxCapacity, n);
    if (fields.length) {
      length = Math.min(length, capacity);
    }
    script.ops.push(setCap(n));
  };

  // Shape of the case
  const shape = rng.weighted([
    [3, 'empty'],
    [4, 'fields-only'],
    [93, 'rows'],
  ]);
  if (shape === 'empty') {
    if (rng.chance(0.5)) {
      changeCapacity();
    }
    return script;
  }
  const initialFields = rng.weighted([
    [10, 1],
    [45, 2],
    [30, 3],
    [15, 4],
  ]);
  const timeFirst = rng.chance(0.75);
  for (let i = 0; i < initialFields; i++) {
    addNewField(i === 0 && timeFirst ? 'time' : undefined);
  }
  if (shape === 'fields-only') {
    if (rng.chance(0.5)) {
      changeCapacity();
    }
    return script;
  }
  const steps = big ? capacity + rng.int(0, 150) : rng.int(1, Math.max(4, capacity * 3));
  const lateFieldAt = rng.chance(0.35) ? rng.int(1, steps) : -1;
  for (let s = 0; s < steps; s++) {
    if (s === lateFieldAt && fields.length < 6) {
      addNewField();
    }
    if (rng.chance(big ? 0.01 : 0.08)) {
      changeCapacity();
    }
    addRow();
  }
  if (rng.chance(0.25)) {
    changeCapacity();
    const more = rng.int(0, capacity + 2);
    for (let s = 0; s < more; s++) {
      addRow();
    }
  }
  return script;
}

// ---------------------------------------------------------------------------------------------

function main() {
  const cases = namedCases();
  const rng = new Rng(0x52494e47); // "RING"
  const RANDOM_CASES = 240;
  for (let i = 0; i < RANDOM_CASES; i++) {
    const script = randomCase(rng, i);
    const kind = script.ops.length === 0 ? 'empty' : script.ops.some((o) => o.op === 'add') ? 'rows' : 'no-rows';
    cases.push({ name: `random-${String(i).padStart(3, '0')}-${script.append}-cap${script.capacity}-${kind}`, script });
  }
  const out = cases.map(({ name, script }) => {
    assertJsonSafe(script, name);
    // Run on a deep copy so nothing the library does can change the recorded script.
    const frame = runScript(JSON.parse(JSON.stringify(script)));
    return { name, script, frame };
  });
  const text = render(`@grafana/data ${GRAFANA_DATA_VERSION} CircularDataFrame`, out);
  writeOrCheck('ring.json', text, out.length);
}

main();
