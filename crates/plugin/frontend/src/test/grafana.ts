/**
 * Grafana's side for the jest tests, through the runtime's own seams: `setBackendSrv` with a
 * minimal BackendSrv that answers the data source's resource URLs (standing in for Grafana's
 * HTTP server, which cannot run here) and records exactly what the real
 * DataSourceWithBackend sends, and `setTemplateSrv` with a small TemplateSrv that replaces
 * `$name`, `${name}` and `[[name]]` from dashboard and scoped variables.
 */
import { urlUtil, type DataSourceInstanceSettings, type ScopedVars } from '@grafana/data';
import {
  setBackendSrv,
  setTemplateSrv,
  type BackendSrv,
  type BackendSrvRequest,
  type FetchResponse,
  type TemplateSrv,
} from '@grafana/runtime';
import { Observable } from 'rxjs';

import { DataSource } from '../datasource';
import type { RingstreamJsonData } from '../types';

/** A request as it would reach Grafana's HTTP server. */
export interface SentRequest {
  method: string;
  /** The URL with its query string, as BackendSrv serializes `params`. */
  url: string;
  data?: unknown;
  showErrorAlert?: boolean;
}

export interface Answer {
  status?: number;
  data: unknown;
}

export type Route = (request: SentRequest) => Answer | undefined;

/** The URL BackendSrv requests: `url` plus the serialized `params` (undefined ones left out). */
function fullUrl(options: BackendSrvRequest): string {
  const params = Object.fromEntries(Object.entries(options.params ?? {}).filter(([, v]) => v !== undefined));
  const query = urlUtil.serializeParams(params);
  return query ? `${options.url}?${query}` : options.url;
}

/** Installs a BackendSrv answering with `route`; returns the requests it got. */
export function installBackend(route: Route): SentRequest[] {
  const sent: SentRequest[] = [];
  const fetch = <T>(options: BackendSrvRequest): Observable<FetchResponse<T>> =>
    new Observable<FetchResponse<T>>((subscriber) => {
      const request: SentRequest = {
        method: options.method ?? 'GET',
        url: fullUrl(options),
        data: options.data,
        showErrorAlert: options.showErrorAlert,
      };
      sent.push(request);
      const answer = route(request) ?? { status: 404, data: { error: `no route for ${request.method} ${request.url}` } };
      const status = answer.status ?? 200;
      const response = {
        data: answer.data as T,
        status,
        statusText: status < 400 ? 'OK' : 'Bad Request',
        ok: status < 400,
        headers: new Headers(),
        redirected: false,
        type: 'basic' as const,
        url: request.url,
        config: { ...options, url: request.url },
      };
      // Asynchronous, as HTTP is.
      const timer = setTimeout(() => {
        if (status < 400) {
          subscriber.next(response);
          subscriber.complete();
        } else {
          subscriber.error(response);
        }
      }, 0);
      return () => clearTimeout(timer);
    });
  const unsupported = () => Promise.reject(new Error('not used by the plugin'));
  const backendSrv = {
    fetch,
    get: unsupported,
    post: unsupported,
    put: unsupported,
    patch: unsupported,
    delete: unsupported,
    request: unsupported,
    datasourceRequest: unsupported,
    resolveCancelerIfExists: () => undefined,
  } as unknown as BackendSrv;
  setBackendSrv(backendSrv);
  return sent;
}

/** Dashboard variables by name; values may be lists (multi-value variables). */
export function installTemplateSrv(variables: Record<string, string | string[]>): TemplateSrv {
  const value = (name: string, scopedVars?: ScopedVars): string | undefined => {
    const scoped = scopedVars?.[name]?.value;
    const v = scoped !== undefined ? scoped : variables[name];
    if (v === undefined) {
      return undefined;
    }
    return Array.isArray(v) ? (v.length > 1 ? `{${v.join(',')}}` : String(v[0] ?? '')) : String(v);
  };
  const pattern = /\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]/g;
  const templateSrv = {
    getVariables: () => [],
    containsTemplate: (target?: string) => Boolean(target && new RegExp(pattern.source).test(target)),
    updateTimeRange: () => undefined,
    replace: (target?: string, scopedVars?: ScopedVars) =>
      (target ?? '').replace(pattern, (match, a?: string, b?: string, c?: string) => value(a ?? b ?? c ?? '', scopedVars) ?? match),
  } as unknown as TemplateSrv;
  setTemplateSrv(templateSrv);
  return templateSrv;
}

export const UID = 'rs1';

/** The instance settings Grafana hands the data source class. */
export function instanceSettings(jsonData: RingstreamJsonData = {}): DataSourceInstanceSettings<RingstreamJsonData> {
  return {
    id: 7,
    uid: UID,
    name: 'Ringstream',
    type: 'seed-ringstream-datasource',
    access: 'proxy',
    readOnly: false,
    jsonData,
    meta: {
      id: 'seed-ringstream-datasource',
      name: 'Ringstream',
      type: 'datasource',
      backend: true,
      streaming: true,
      module: 'public/plugins/seed-ringstream-datasource/module.js',
      baseUrl: 'public/plugins/seed-ringstream-datasource',
      info: {
        author: { name: 'Ringstream developers' },
        description: '',
        links: [],
        logos: { small: 'img/logo.svg', large: 'img/logo.svg' },
        screenshots: [],
        updated: '',
        version: '',
      },
    },
  } as DataSourceInstanceSettings<RingstreamJsonData>;
}

export function dataSource(jsonData?: RingstreamJsonData): DataSource {
  return new DataSource(instanceSettings(jsonData));
}

/** The resource URL of the test data source. */
export const resource = (path: string) => `/api/datasources/uid/${UID}/resources/${path}`;
