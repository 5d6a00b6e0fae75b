import type { CoreApp, DataSourceInstanceSettings, ScopedVars } from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, isFetchError } from '@grafana/runtime';

import { activeParams, bag, defaultQuery, sourceOf, templatedKeys } from './schema';
import type {
  FieldInfo,
  FieldsAnswer,
  RingstreamJsonData,
  RingstreamQuery,
  TopicsAnswer,
  ValidateAnswer,
} from './types';
import { TopicVariableSupport } from './variables';

/** Resource calls from the editors: no error pop-up in Grafana, the editors show them. */
const QUIET = { showErrorAlert: false };

/** The text of a resource error: `{"error": "...", "field": "..."}` with a 4xx status. */
export function resourceError(err: unknown): { field?: string; problem: string } {
  if (isFetchError(err)) {
    const data = (err.data ?? {}) as { error?: unknown; field?: unknown; message?: unknown };
    const problem = typeof data.error === 'string' ? data.error : typeof data.message === 'string' ? data.message : '';
    return {
      field: typeof data.field === 'string' ? data.field : undefined,
      problem: problem || err.statusText || `HTTP ${err.status}`,
    };
  }
  return { problem: err instanceof Error ? err.message : String(err) };
}

/**
 * Ringstream in Grafana: a backend data source. Queries, health checks and streams run in the
 * Rust executable; the frames it returns carry `meta.channel`, and Grafana's runtime streams
 * them through Grafana Live. Here: the default query, dashboard variables, and the resource
 * calls the editors use (`validate`, `topics`, `fields`).
 */
export class DataSource extends DataSourceWithBackend<RingstreamQuery, RingstreamJsonData> {
  /** The connection settings the query editor tells about (never secrets: those stay on the server). */
  readonly jsonData: RingstreamJsonData;

  constructor(instanceSettings: DataSourceInstanceSettings<RingstreamJsonData>) {
    super(instanceSettings);
    this.jsonData = instanceSettings.jsonData ?? {};
    this.variables = new TopicVariableSupport(this);
  }

  getDefaultQuery(_app: CoreApp): Partial<RingstreamQuery> {
    return defaultQuery();
  }

  /** Dashboard and scoped variables in the text parameters of the query's source (topic, path, …). */
  applyTemplateVariables(query: RingstreamQuery, scopedVars: ScopedVars): RingstreamQuery {
    const templateSrv = getTemplateSrv();
    const next = { ...query };
    const values = bag(next);
    for (const key of templatedKeys(query)) {
      const value = values[key];
      if (typeof value === 'string' && value !== '') {
        values[key] = templateSrv.replace(value, scopedVars);
      } else if (Array.isArray(value)) {
        values[key] = value.map((v) => (typeof v === 'string' ? templateSrv.replace(v, scopedVars) : v));
      }
    }
    return next;
  }

  /** Hidden queries are not sent, nor those missing a key their source requires (an MQTT topic). */
  filterQuery(query: RingstreamQuery): boolean {
    if (query.hide) {
      return false;
    }
    const source = sourceOf(query);
    const record = bag(query);
    return (source?.required ?? []).every((key) => record[key] !== undefined && record[key] !== '');
  }

  /** The query as the backend gets it: variables replaced, only the keys of its source and kind. */
  private backendQuery(query: RingstreamQuery): Record<string, unknown> {
    const applied = this.applyTemplateVariables(query, {});
    const params = activeParams(applied);
    return Object.fromEntries(Object.entries(applied).filter(([key]) => params.has(key)));
  }

  /** `POST validate`: the backend's rules the schema cannot express (topic filters, paths). */
  async validateQuery(query: RingstreamQuery): Promise<ValidateAnswer> {
    try {
      return await this.postResource<ValidateAnswer>('validate', this.backendQuery(query), {
        ...QUIET,
        requestId: `ringstream-validate-${query.refId}`,
      });
    } catch (err) {
      const { field, problem } = resourceError(err);
      return { ok: false, field, problem };
    }
  }

  /** `GET topics`: names seen on the data source's connection for `source`, matching `filter`. */
  async topics(source: string, filter: string, limit = 50): Promise<TopicsAnswer> {
    const params: Record<string, string | number> = { source, limit };
    if (filter !== '') {
      params.filter = getTemplateSrv().replace(filter);
    }
    return this.getResource<TopicsAnswer>('topics', params, { ...QUIET, requestId: `ringstream-topics-${source}` });
  }

  /** `GET fields`: the fields the query's stream has seen so far. */
  async fields(query: RingstreamQuery): Promise<FieldInfo[]> {
    const answer = await this.getResource<FieldsAnswer>(
      'fields',
      { query: JSON.stringify(this.backendQuery(query)) },
      { ...QUIET, requestId: `ringstream-fields-${query.refId}` }
    );
    return Array.isArray(answer?.fields) ? answer.fields : [];
  }
}
