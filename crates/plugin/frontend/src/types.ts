/**
 * The plugin's types. The query and settings types are generated from the backend's exported
 * schemas (src/schema.gen.ts); the resource answers are the backend's resource contract.
 */
import type { DataQuery } from '@grafana/schema';

export type {
  RingstreamJsonData,
  RingstreamQuery,
  RingstreamSecureJsonData,
  SignalKind,
  Source,
} from './schema.gen';

/** `POST validate`: the backend's verdict on a query. */
export type ValidateAnswer = { ok: true } | { ok: false; field?: string; problem: string };

/** `GET topics?source=&filter=&limit=`: names seen on the data source's connection. */
export interface TopicsAnswer {
  topics: string[];
  truncated?: boolean;
}

/** One field a stream has seen. */
export interface FieldInfo {
  name: string;
  type: string;
}

/** `GET fields?query=`: the fields the query's stream has seen so far. */
export interface FieldsAnswer {
  fields: FieldInfo[];
}

/** A query variable: the names the `topics` resource lists for a source. */
export interface TopicVariableQuery extends DataQuery {
  source?: string;
  filter?: string;
  limit?: number;
}
