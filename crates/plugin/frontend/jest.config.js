// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

// Jest configuration provided by Grafana scaffolding (.config/jest.config.js), extended:
const base = require('./.config/jest.config');
const swc = base.transform['^.+\\.(t|j)sx?$'];

module.exports = {
  ...base,
  // d3-color 3.1.1 (under @grafana/data and @grafana/ui) ships only dist/d3-color.mjs, which
  // create-plugin's transform pattern (.js/.ts/.jsx/.tsx) leaves as ESM: transform .mjs too.
  transform: { ...base.transform, '^.+\\.mjs$': swc },
  // CI machines are small and shared, and the first run compiles every file: a slow test is
  // no failing test (5 s by default).
  testTimeout: 30000,
  // The Chromium test of the built module.js is run by node's test runner (npm run test:browser).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/browser/'],
};
