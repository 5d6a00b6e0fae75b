'use strict';
// bench-ring.cjs: what the real @grafana/data CircularDataFrame costs, as a baseline for the Rust
// ring. Fields time (time) and value (number), as in Grafana's streaming tutorial.
//
// - add_cap_N_ns: ns per frame.add({time, value}) with the frame pre-filled to capacity N (so
//   every add overwrites the oldest row). Each sample runs adds for at least 1 s; median of the
//   samples.
// - read_1000_rows_ns: ns to read all 1000 rows of a full (wrapped) capacity-1000 frame, summing
//   every cell of both fields through field.values.get(i); median of the samples.
//
// Prints one JSON line, then a human table. Runs in about 20 s.

const { CircularDataFrame } = require('@grafana/data');
const { GRAFANA_DATA_VERSION } = require('./common.cjs');

const SAMPLES = 5;
const SAMPLE_NS = 1_000_000_000n; // at least 1 s per sample
const WARMUP_NS = 300_000_000n;

const now = () => process.hrtime.bigint();
const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let sink = 0; // keeps results observable so nothing is optimised away

function makeFrame(capacity) {
  const frame = new CircularDataFrame({ append: 'tail', capacity });
  frame.addField({ name: 'time', type: 'time' });
  frame.addField({ name: 'value', type: 'number' });
  let t = 1700000000000;
  for (let i = 0; i < capacity + 7; i++) {
    // pre-fill past capacity so the ring has wrapped and index != 0
    frame.add({ time: t, value: (i % 1000) * 0.5 });
    t += 1000;
  }
  if (frame.length !== capacity) {
    throw new Error(`expected a full frame of ${capacity}, got ${frame.length}`);
  }
  return { frame, t };
}

/** Runs `batch()` (which does `perBatch` operations) until `minNs` passed; returns ns per op. */
function timeLoop(batch, perBatch, minNs) {
  let ops = 0;
  const start = now();
  let elapsed = 0n;
  do {
    batch();
    ops += perBatch;
    elapsed = now() - start;
  } while (elapsed < minNs);
  return Number(elapsed) / ops;
}

function benchAdd(capacity) {
  const state = makeFrame(capacity);
  const { frame } = state;
  const BATCH = 10_000;
  const batch = () => {
    let t = state.t;
    for (let i = 0; i < BATCH; i++) {
      frame.add({ time: t, value: i * 0.25 });
      t += 1000;
    }
    state.t = t;
  };
  timeLoop(batch, BATCH, WARMUP_NS);
  const samples = [];
  for (let s = 0; s < SAMPLES; s++) {
    samples.push(timeLoop(batch, BATCH, SAMPLE_NS));
  }
  if (frame.length !== capacity) {
    throw new Error('frame length changed during the benchmark');
  }
  sink += frame.fields[1].values.get(capacity - 1);
  return { median: median(samples), samples };
}

function benchRead() {
  const { frame } = makeFrame(1000);
  const [time, value] = frame.fields.map((f) => f.values);
  const n = frame.length;
  const readAll = () => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += time.get(i);
      sum += value.get(i);
    }
    sink += sum;
  };
  timeLoop(readAll, 1, WARMUP_NS);
  const samples = [];
  for (let s = 0; s < SAMPLES; s++) {
    samples.push(timeLoop(readAll, 1, SAMPLE_NS));
  }
  return { median: median(samples), samples };
}

function main() {
  const add1k = benchAdd(1000);
  const add100k = benchAdd(100000);
  const read = benchRead();
  if (!Number.isFinite(sink)) {
    throw new Error('benchmark sink is not finite');
  }
  const round = (x) => Math.round(x * 10) / 10;
  const result = {
    node: process.version,
    grafanaData: GRAFANA_DATA_VERSION,
    add_cap_1000_ns: round(add1k.median),
    add_cap_100000_ns: round(add100k.median),
    read_1000_rows_ns: round(read.median),
  };
  console.log(JSON.stringify(result));
  const rows = [
    ['CircularDataFrame.add, capacity 1000', add1k, 'ns / add'],
    ['CircularDataFrame.add, capacity 100000', add100k, 'ns / add'],
    ['read 1000 rows x 2 fields (values.get)', read, 'ns / read'],
  ];
  console.log('');
  console.log(`@grafana/data ${GRAFANA_DATA_VERSION} on node ${process.version}, median of ${SAMPLES} samples of >= 1 s`);
  console.log(`${'benchmark'.padEnd(42)} ${'median'.padStart(12)}  unit        samples`);
  for (const [name, r, unit] of rows) {
    const s = r.samples.map((x) => round(x)).join(', ');
    console.log(`${name.padEnd(42)} ${String(round(r.median)).padStart(12)}  ${unit.padEnd(10)}  ${s}`);
  }
}

main();
