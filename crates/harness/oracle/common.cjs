'use strict';
// Shared helpers for the oracle scripts: a seeded PRNG, value normalisation for JSON output,
// the fixture file layout, and the write / `--check` logic. No Date, no Math.random: the
// fixtures must come out byte-for-byte the same on every run.

const fs = require('fs');
const path = require('path');

const GRAFANA_DATA_VERSION = require('@grafana/data/package.json').version;
const FIXTURES_DIR = path.join(__dirname, '..', 'tests', 'fixtures');

/** mulberry32: a tiny, well-known 32-bit seeded PRNG returning floats in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Convenience wrapper around mulberry32. */
class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi] (both inclusive). */
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p) {
    return this.next() < p;
  }
  pick(arr) {
    return arr[Math.floor(this.next() * arr.length)];
  }
  /** Picks by weight: pairs [[weight, value], ...]. */
  weighted(pairs) {
    const total = pairs.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of pairs) {
      if (r < w) {
        return v;
      }
      r -= w;
    }
    return pairs[pairs.length - 1][1];
  }
  shuffle(arr) {
    const a = arr.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/**
 * One cell as it goes into a fixture: undefined -> null, NaN / Infinity / -Infinity -> the
 * strings "NaN" / "Infinity" / "-Infinity", -0 -> 0. Everything else as is.
 */
function cell(v) {
  if (v === undefined) {
    return null;
  }
  if (typeof v === 'number') {
    if (Number.isNaN(v)) {
      return 'NaN';
    }
    if (v === Infinity) {
      return 'Infinity';
    }
    if (v === -Infinity) {
      return '-Infinity';
    }
    if (Object.is(v, -0)) {
      return 0;
    }
  }
  return v;
}

/** Refuses -0 and non-finite numbers in generated *inputs* (JSON cannot carry them). */
function assertJsonSafe(value, where) {
  const walk = (v) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Object.is(v, -0)) {
        throw new Error(`${where}: generated an input number JSON cannot carry: ${v}`);
      }
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v && typeof v === 'object') {
      Object.values(v).forEach(walk);
    }
  };
  walk(value);
}

/**
 * The fixture file text: a small pretty-printed header and one case per line, so a diff shows
 * exactly which cases changed and the files stay small.
 */
function render(oracle, cases) {
  const names = new Set();
  for (const c of cases) {
    if (names.has(c.name)) {
      throw new Error(`duplicate case name ${c.name}`);
    }
    names.add(c.name);
  }
  const lines = cases.map((c) => '    ' + JSON.stringify(c));
  return (
    '{\n' +
    `  "oracle": ${JSON.stringify(oracle)},\n` +
    '  "regenerate": "cargo xtask fixtures",\n' +
    '  "cases": [\n' +
    lines.join(',\n') +
    '\n  ]\n}\n'
  );
}

/** Writes the fixture, or with `--check` compares it byte for byte with the committed file. */
function writeOrCheck(fileName, text, caseCount) {
  const file = path.join(FIXTURES_DIR, fileName);
  const check = process.argv.slice(2).includes('--check');
  if (!check) {
    fs.mkdirSync(FIXTURES_DIR, { recursive: true });
    fs.writeFileSync(file, text);
    console.log(`${fileName}: wrote ${caseCount} cases (${Buffer.byteLength(text)} bytes) to ${file}`);
    return;
  }
  let committed;
  try {
    committed = fs.readFileSync(file, 'utf8');
  } catch (e) {
    console.error(`${fileName}: cannot read ${file}: ${e.message}`);
    console.error('Run `cargo xtask fixtures` to generate it.');
    process.exit(1);
  }
  if (committed === text) {
    console.log(`${fileName}: ${caseCount} cases match`);
    return;
  }
  const a = committed.split('\n');
  const b = text.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) {
    i++;
  }
  const caseName = (line) => {
    const m = /^\s*\{"name":("(?:[^"\\]|\\.)*")/.exec(line || '');
    return m ? JSON.parse(m[1]) : null;
  };
  const name = caseName(b[i]) || caseName(a[i]);
  console.error(
    `${fileName}: the committed fixture differs from what @grafana/data ${GRAFANA_DATA_VERSION} produces ` +
      `now (first difference at line ${i + 1}${name ? `, case "${name}"` : ''}; ` +
      `committed ${a.length} lines, regenerated ${b.length}).`
  );
  // Show both lines around the first character where they differ.
  const x = a[i] === undefined ? '' : a[i];
  const y = b[i] === undefined ? '' : b[i];
  let k = 0;
  while (k < x.length && k < y.length && x[k] === y[k]) {
    k++;
  }
  const from = Math.max(0, k - 120);
  const clip = (s, whole) => (whole === undefined ? '<end of file>' : (from > 0 ? '...' : '') + s.slice(from, k + 120) + (s.length > k + 120 ? '...' : ''));
  console.error(`  committed:   ${clip(x, a[i])}`);
  console.error(`  regenerated: ${clip(y, b[i])}`);
  console.error('Run `cargo xtask fixtures` to regenerate, then review the diff.');
  process.exit(1);
}

/** A finite number for a fixture: small integers, fractions, extremes; `extra` adds
 *  [weight, make] choices after the shared ones (the order keeps fixtures stable). */
function randomNumber(rng, extra) {
  return rng.weighted([
    [30, () => rng.int(-1000, 1000)],
    [20, () => Math.round((rng.next() * 200 - 100) * 1000) / 1000],
    [15, () => rng.next() * 2 - 1],
    [8, () => (rng.next() - 0.5) * Math.pow(10, rng.int(-300, 300))],
    [5, () => rng.int(-8, 8) / 8],
    [5, () => rng.pick([0, 1, -1, 9007199254740991, -9007199254740991, 1e21, 1e-7, 5e-324, 1.7976931348623157e308])],
    ...extra,
  ])();
}

module.exports = { GRAFANA_DATA_VERSION, Rng, cell, randomNumber, assertJsonSafe, render, writeOrCheck };
