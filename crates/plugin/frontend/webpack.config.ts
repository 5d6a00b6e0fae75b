/*
 * Extends create-plugin's webpack config (.config/webpack/webpack.config.ts, never edited), as
 * .config/README.md describes, for this repository's layout:
 *
 * - plugin.json lives at the workspace root, not in src/: src/plugin.json is a symlink to it, so
 *   that create-plugin's config (plugin id, public path) and ours read the one manifest.
 * - One entry, src/module.ts (create-plugin globs every src/**\/plugin.json for nested plugins;
 *   there are none here).
 * - The output is module.js and module.js.map in ./dist only: `cargo xtask dist` assembles the
 *   plugin folder (plugin.json with version and date, img/, README.md, CHANGELOG.md, LICENSE,
 *   the backend executable) around them, so create-plugin's copy and replace steps are dropped.
 */
import fs from 'fs';
import path from 'path';
import CopyWebpackPlugin from 'copy-webpack-plugin';
import ReplaceInFileWebpackPlugin from 'replace-in-file-webpack-plugin';
import type { Configuration } from 'webpack';
import { customizeObject, mergeWithCustomize } from 'webpack-merge';

import grafanaConfig, { type Env } from './.config/webpack/webpack.config';

const ROOT_PLUGIN_JSON = path.resolve(__dirname, '..', '..', '..', 'plugin.json');
const SRC_PLUGIN_JSON = path.resolve(__dirname, 'src', 'plugin.json');

const config = async (env: Env): Promise<Configuration> => {
  if (fs.realpathSync(SRC_PLUGIN_JSON) !== fs.realpathSync(ROOT_PLUGIN_JSON)) {
    throw new Error(`${SRC_PLUGIN_JSON} must be a symlink to ${ROOT_PLUGIN_JSON}, the one plugin.json`);
  }
  const baseConfig = await grafanaConfig(env);
  baseConfig.plugins = (baseConfig.plugins ?? []).filter(
    (plugin) => !(plugin instanceof CopyWebpackPlugin) && !(plugin instanceof ReplaceInFileWebpackPlugin)
  );
  // Our entry replaces create-plugin's (merging would add to it).
  return mergeWithCustomize({ customizeObject: customizeObject({ entry: 'replace' }) })(baseConfig, {
    entry: { module: './module.ts' },
    // webpack's build cache is invalidated by this file too, not only by create-plugin's config.
    cache: { type: 'filesystem', buildDependencies: { config: [__filename] } },
  });
};

export default config;
