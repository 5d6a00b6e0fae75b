/**
 * The Grafana side of the Chromium test page: the real @grafana/data, @grafana/ui,
 * @grafana/runtime, React and the other shared modules, handed to the real SystemJS (with
 * its AMD extra) under the names Grafana gives them, then the BUILT module.js imported
 * through SystemJS as Grafana imports a plugin, and its two editors rendered.
 *
 * What this follows, read in grafana/grafana (public/app/features/plugins/):
 * - loader/systemjs.ts: `systemjs/dist/system`, `extras/amd`, `extras/named-register`
 *   (index.html loads those three files, from npm `systemjs`);
 * - loader/sharedDependencies.ts: the module names plugins import (`@grafana/data`, `react`,
 *   `lodash` and `moment` with `__useDefault`, …);
 * - loader/utils.ts `buildImportMap`: each module set in the registry as `package:<name>`, and
 *   an import map from `<name>` to that id;
 * - loader/systemjsHooks.ts `initSystemJSHooks`: `shouldFetch` (fetch and eval, the default
 *   loading strategy), and `import` unwrapping `__useDefault`;
 * - importer/importPluginModule.ts and pluginImporter.ts: `SystemJS.import(path)` of
 *   `public/plugins/<id>/module.js`, then the `plugin` export as the DataSourcePlugin.
 *
 * Grafana's HTTP API is the one stand-in: a BackendSrv (the runtime's `setBackendSrv` seam)
 * answering the data source's resource URLs, recording what the plugin sends.
 */
import * as emotionCss from '@emotion/css';
import * as emotionReact from '@emotion/react';
import * as grafanaData from '@grafana/data';
import * as grafanaRuntime from '@grafana/runtime';
import * as grafanaUi from '@grafana/ui';
import * as lodash from 'lodash';
import * as moment from 'moment';
import * as React from 'react';
import * as reactJsxRuntime from 'react/jsx-runtime';
import * as reactDom from 'react-dom';
import * as reactDomClient from 'react-dom/client';
import * as rxjs from 'rxjs';
import * as rxjsOperators from 'rxjs/operators';

import { dataSourceSettings, PLUGIN_ID } from '../src/testing/settings';

import type {
  DataQuery,
  DataSourceApi,
  DataSourceInstanceSettings,
  DataSourcePlugin,
  DataSourceJsonData,
  DataSourceSettings,
  QueryEditorProps,
  DataSourcePluginOptionsEditorProps,
} from '@grafana/data';

interface SystemJSLike {
  set(id: string, module: object): void;
  addImportMap(map: { imports: Record<string, string> }): void;
  import(id: string): Promise<Record<string, unknown>>;
  has(id: string): boolean;
  resolve(id: string): string;
  constructor: { prototype: Record<string, unknown> };
}

interface Recorded {
  ready: boolean;
  error: string | null;
  sharedNames: string[];
  moduleUrl: string;
  pluginIsShared: boolean;
  queries: DataQuery[];
  runs: number;
  settings: DataSourceSettings[];
  requests: Array<{ method: string; url: string; data?: unknown }>;
}

declare global {
  interface Window {
    System: SystemJSLike;
    __rs: Recorded;
  }
}

const MODULE_PATH = `/public/plugins/${PLUGIN_ID}/module.js`;
const UID = 'rs-browser';

const rs: Recorded = (window.__rs = {
  ready: false,
  error: null,
  sharedNames: [],
  moduleUrl: '',
  pluginIsShared: false,
  queries: [],
  runs: 0,
  settings: [],
  requests: [],
});

// --- the shared modules, under Grafana's names ---------------------------------------------
const useDefault = (ns: object) => ({ ...ns, __useDefault: true });
const shared: Record<string, object> = {
  '@emotion/css': emotionCss,
  '@emotion/react': emotionReact,
  '@grafana/data': grafanaData,
  '@grafana/runtime': grafanaRuntime,
  '@grafana/ui': grafanaUi,
  lodash: useDefault(lodash),
  moment: useDefault(moment),
  react: React,
  'react/jsx-runtime': reactJsxRuntime,
  'react-dom': reactDom,
  'react-dom/client': reactDomClient,
  rxjs,
  'rxjs/operators': rxjsOperators,
};

const System = window.System;
const imports: Record<string, string> = {};
for (const [name, module] of Object.entries(shared)) {
  const id = `package:${name}`;
  System.set(id, module);
  imports[name] = id;
}
System.addImportMap({ imports });
rs.sharedNames = Object.keys(shared);

const proto = System.constructor.prototype;
proto.shouldFetch = () => true;
const originalImport = proto.import as (this: SystemJSLike, ...args: unknown[]) => Promise<Record<string, unknown>>;
proto.import = function (this: SystemJSLike, ...args: unknown[]) {
  return originalImport.apply(this, args).then((module) => (module && module.__useDefault ? module.default : module));
};

// --- Grafana's HTTP API for this data source -----------------------------------------------
const resources = `/api/datasources/uid/${UID}/resources/`;
const TOPICS = ['plant/line-1/press-7', 'plant/line-1/press-8', 'plant/line-2/oven', 'office/door'];

function answer(method: string, url: URL, data: unknown): { status: number; data: unknown } {
  const path = url.pathname.startsWith(resources) ? url.pathname.slice(resources.length) : '';
  if (method === 'POST' && path === 'validate') {
    const topic = (data as { topic?: unknown }).topic;
    if (typeof topic === 'string' && /#./.test(topic)) {
      return {
        status: 200,
        data: { ok: false, field: 'topic', problem: '# must be the last level of a topic filter' },
      };
    }
    return { status: 200, data: { ok: true } };
  }
  if (method === 'GET' && path === 'topics') {
    const filter = url.searchParams.get('filter') ?? '';
    return { status: 200, data: { topics: TOPICS.filter((t) => t.includes(filter)), truncated: false } };
  }
  if (method === 'GET' && path === 'fields') {
    return {
      status: 200,
      data: {
        fields: [
          { name: 'ts', type: 'time' },
          { name: 'celsius', type: 'number' },
        ],
      },
    };
  }
  return { status: 404, data: { error: `no resource ${method} ${url.pathname}` } };
}

const backendSrv = {
  fetch(options: grafanaRuntime.BackendSrvRequest) {
    return new rxjs.Observable((subscriber) => {
      const params = Object.fromEntries(Object.entries(options.params ?? {}).filter(([, v]) => v !== undefined));
      const query = grafanaData.urlUtil.serializeParams(params);
      const url = new URL(query ? `${options.url}?${query}` : options.url, window.location.origin);
      const method = options.method ?? 'GET';
      rs.requests.push({ method, url: url.pathname + url.search, data: options.data });
      const { status, data } = answer(method, url, options.data);
      const timer = setTimeout(() => {
        const response = {
          data,
          status,
          statusText: status < 400 ? 'OK' : 'Not Found',
          ok: status < 400,
          url: url.href,
          config: options,
        };
        if (status < 400) {
          subscriber.next(response);
          subscriber.complete();
        } else {
          subscriber.error(response);
        }
      }, 20);
      return () => clearTimeout(timer);
    });
  },
};
grafanaRuntime.setBackendSrv(backendSrv as unknown as grafanaRuntime.BackendSrv);
grafanaRuntime.setTemplateSrv({
  getVariables: () => [],
  containsTemplate: (t?: string) => Boolean(t && t.includes('$')),
  updateTimeRange: () => undefined,
  replace: (t?: string) => (t ?? '').replace(/\$\{?line\}?/g, 'line-1'),
} as unknown as grafanaRuntime.TemplateSrv);

// --- the plugin, as Grafana loads and renders it -------------------------------------------
type Plugin = DataSourcePlugin<DataSourceApi<DataQuery>, DataQuery>;

const instanceSettings = {
  id: 1,
  uid: UID,
  name: 'Ringstream',
  type: PLUGIN_ID,
  access: 'proxy',
  readOnly: false,
  jsonData: { mqttUrl: 'mqtts://broker.example:8883', websocketUrl: 'wss://feed.example/v1' },
  meta: {
    id: PLUGIN_ID,
    name: 'Ringstream',
    type: 'datasource',
    module: MODULE_PATH.slice(1),
    baseUrl: `public/plugins/${PLUGIN_ID}`,
  },
} as unknown as DataSourceInstanceSettings;

const initialSettings: DataSourceSettings = dataSourceSettings<DataSourceJsonData & Record<string, string>, {}>({
  id: 1,
  uid: UID,
  jsonData: {
    mqttUrl: 'mqtts://broker.example:8883',
    mqttUsername: 'grafana',
    websocketUrl: 'wss://feed.example/v1',
    httpHeaderName1: 'Authorization',
  },
  secureJsonFields: { mqttPassword: true, httpHeaderValue1: true },
});

function Themed({ children }: { children: React.ReactNode }) {
  const theme = grafanaRuntime.config.theme2;
  return (
    <grafanaData.ThemeContext.Provider value={theme}>
      <div
        style={{
          background: theme.colors.background.primary,
          color: theme.colors.text.primary,
          fontFamily: theme.typography.fontFamily,
          fontSize: theme.typography.fontSize,
          padding: theme.spacing(2),
        }}
      >
        {children}
      </div>
    </grafanaData.ThemeContext.Provider>
  );
}

function ConfigHost({ plugin }: { plugin: Plugin }) {
  const ConfigEditor = plugin.components.ConfigEditor as React.ComponentType<DataSourcePluginOptionsEditorProps>;
  const [options, setOptions] = React.useState(initialSettings);
  return (
    <ConfigEditor
      options={options}
      onOptionsChange={(next) => {
        rs.settings.push(next);
        setOptions(next);
      }}
    />
  );
}

function QueryHost({ plugin }: { plugin: Plugin }) {
  const QueryEditor = plugin.components.QueryEditor as React.ComponentType<
    QueryEditorProps<DataSourceApi<DataQuery>, DataQuery>
  >;
  const [datasource] = React.useState(() => new plugin.DataSourceClass(instanceSettings));
  const [query, setQuery] = React.useState<DataQuery>(() => ({
    refId: 'A',
    ...datasource.getDefaultQuery?.(grafanaData.CoreApp.PanelEditor),
  }));
  return (
    <QueryEditor
      query={query}
      datasource={datasource}
      onChange={(next) => {
        rs.queries.push(next);
        setQuery(next);
      }}
      onRunQuery={() => {
        rs.runs += 1;
      }}
    />
  );
}

async function main() {
  rs.moduleUrl = System.resolve(MODULE_PATH);
  const exports = await System.import(MODULE_PATH);
  const plugin = exports.plugin as Plugin;
  // The plugin was built against the shared @grafana/data: its class is the page's.
  rs.pluginIsShared = plugin instanceof grafanaData.DataSourcePlugin;
  if (!plugin.components.ConfigEditor || !plugin.components.QueryEditor) {
    throw new Error('the plugin has no config editor or no query editor');
  }
  reactDomClient.createRoot(document.getElementById('config')!).render(
    <Themed>
      <ConfigHost plugin={plugin} />
    </Themed>
  );
  reactDomClient.createRoot(document.getElementById('query')!).render(
    <Themed>
      <QueryHost plugin={plugin} />
    </Themed>
  );
  rs.queries.push({ refId: 'A' });
  rs.ready = true;
}

main().catch((err: unknown) => {
  rs.error = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
});
