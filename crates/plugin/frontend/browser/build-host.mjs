// Builds browser/host.tsx (the Grafana side of the Chromium test page: the real shared
// modules and SystemJS hooks) into browser/.host/host.js with the webpack and swc the plugin
// itself is built with. The build is kept while package-lock.json, host.tsx and this file are
// unchanged (browser/.host/key).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FRONTEND = path.resolve(HERE, '..');
const OUT = path.join(HERE, '.host');

function key() {
  const hash = crypto.createHash('sha256');
  for (const file of [path.join(FRONTEND, 'package-lock.json'), path.join(HERE, 'host.tsx'), path.join(FRONTEND, 'src', 'testing', 'settings.ts'), fileURLToPath(import.meta.url)]) {
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

/** The path of the built host.js, building it when needed. */
export async function buildHost() {
  const want = key();
  const keyFile = path.join(OUT, 'key');
  const bundle = path.join(OUT, 'host.js');
  if (fs.existsSync(bundle) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === want) {
    return bundle;
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  const compiler = webpack({
    mode: 'development',
    devtool: false,
    context: FRONTEND,
    entry: { host: './browser/host.tsx' },
    output: { path: OUT, filename: '[name].js' },
    // The packages' CommonJS builds, as jest loads them: @grafana/ui 12.0.2's ESM build lost
    // some of its exports to tree-shaking (e.g. components/Combobox/filter.mjs exports nothing),
    // which a plugin never notices (Grafana provides @grafana/ui) but a bundle of it does.
    resolve: {
      extensions: ['.js', '.jsx', '.ts', '.tsx', '.mjs', '.cjs'],
      conditionNames: ['browser', 'require', 'default'],
      mainFields: ['browser', 'main', 'module'],
    },
    module: {
      rules: [
        {
          test: /\.[tj]sx?$/,
          exclude: /node_modules/,
          use: {
            loader: 'swc-loader',
            options: { jsc: { target: 'es2020', parser: { syntax: 'typescript', tsx: true } } },
          },
        },
        { test: /\.css$/, use: ['style-loader', 'css-loader'] },
        { test: /\.(png|jpe?g|gif|svg|woff2?)$/, type: 'asset/resource' },
      ],
    },
    performance: { hints: false },
    infrastructureLogging: { level: 'warn' },
  });
  const stats = await new Promise((resolve, reject) =>
    compiler.run((err, result) => (err ? reject(err) : compiler.close(() => resolve(result))))
  );
  if (stats.hasErrors()) {
    throw new Error(`building the test host failed:\n${stats.toString({ all: false, errors: true })}`);
  }
  fs.writeFileSync(keyFile, want);
  return bundle;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  console.log(`${await buildHost()} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
