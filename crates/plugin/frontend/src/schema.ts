/**
 * The editors' model, read from the backend's exported schemas (src/schema.gen.ts, generated
 * from crates/plugin/schema/*.schema.json): which sources and signal kinds exist, which
 * parameters each has and in which order, their types, limits, defaults and descriptions.
 * Nothing here names a source, a signal kind or a parameter: a new one in the backend's
 * declarations appears in the editors once the schemas are regenerated.
 */
import { querySchema, settingsSchema, type RingstreamQuery, type SignalKind } from './schema.gen';

/** The parts of JSON Schema (and its x- extensions) the backend's schemas use. */
export interface PropSchema {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  format?: string;
  items?: PropSchema;
  'x-unit'?: string;
  'x-greaterThan'?: string;
  'x-schemes'?: readonly string[];
  'x-section'?: string;
  'x-secure'?: boolean;
  'x-repeat'?: number;
}

export interface ObjectSchema {
  title?: string;
  description?: string;
  properties?: Readonly<Record<string, PropSchema | undefined>>;
  patternProperties?: Readonly<Record<string, PropSchema | undefined>>;
  required?: readonly string[];
  oneOf?: readonly ObjectSchema[];
  'x-order'?: readonly string[];
  'x-displayName'?: string;
  'x-needsConnection'?: boolean;
}

export const QUERY_SCHEMA: ObjectSchema = querySchema;
export const SETTINGS_SCHEMA: { properties: { jsonData: ObjectSchema; secureJsonData: ObjectSchema } } = settingsSchema;

/** The properties a schema node declares (an absent key is no entry). */
function entriesOf(props: ObjectSchema['properties']): Array<[string, PropSchema]> {
  return Object.entries(props ?? {}).filter((e): e is [string, PropSchema] => e[1] !== undefined);
}

/** How a parameter is edited. */
export type Control = 'number' | 'integer' | 'select' | 'switch' | 'text' | 'list';

/** Which discovery resource offers values for a parameter. */
export type Suggest = 'topics' | 'fields';

export interface Param {
  key: string;
  schema: PropSchema;
  label: string;
  control: Control;
  suggest?: Suggest;
}

/** One branch of a `oneOf`: a source, or a kind of a source (a signal kind). */
export interface Variant {
  value: string;
  label: string;
  description?: string;
  schema: ObjectSchema;
  /** Its own parameters, in `x-order`. */
  params: Param[];
  required: readonly string[];
}

export interface SourceSpec extends Variant {
  needsConnection: boolean;
  /** A nested `oneOf` keyed by one of the source's properties (the signal kind). */
  kinds?: { param: Param; variants: Variant[] };
}

// -------------------------------------------------------------------------------------------
// Labels. The schemas carry no display names for parameters (only for sources), so a label is
// the key in words: `tickMs` with `x-unit: ms` is "Tick (ms)", `mqttClientId` in the MQTT
// section "Client ID". A `title` in the schema wins.

const ACRONYMS: Record<string, string> = {
  ca: 'CA',
  http: 'HTTP',
  id: 'ID',
  mb: 'MB',
  mqtt: 'MQTT',
  tls: 'TLS',
  uri: 'URI',
  url: 'URL',
  ws: 'WS',
};

/** `random_walk` → "Random walk", `tlsAuthWithCACert` → "TLS auth with CA cert". */
export function words(key: string): string {
  const parts = key
    .replace(/_/g, ' ')
    .split(/\s+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/)
    .filter(Boolean);
  return parts
    .map((part, i) => {
      const acronym = ACRONYMS[part.toLowerCase()];
      if (acronym) {
        return acronym;
      }
      const lower = part.toLowerCase();
      return i === 0 ? lower.charAt(0).toUpperCase() + lower.slice(1) : lower;
    })
    .join(' ');
}

/** The label of `key`; `prefix` (a section name) is dropped from its start. */
export function labelOf(key: string, schema: PropSchema, prefix?: string): string {
  if (schema.title) {
    return schema.title;
  }
  let name = key;
  if (prefix && name.toLowerCase().startsWith(prefix.toLowerCase()) && name.length > prefix.length) {
    name = name.slice(prefix.length);
  }
  const unit = schema['x-unit'];
  if (unit) {
    // `periodMs` with unit ms: the unit goes into brackets, not into the words.
    const suffix = unit.charAt(0).toUpperCase() + unit.slice(1);
    if (name.endsWith(suffix) && name.length > suffix.length) {
      name = name.slice(0, -suffix.length);
    }
    return `${words(name)} (${unit})`;
  }
  return words(name);
}

/** A description as a sentence for a tooltip. */
export function sentence(text: string | undefined): string | undefined {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : undefined;
}

// -------------------------------------------------------------------------------------------
// Query schema.

export function controlOf(schema: PropSchema): Control {
  if (Array.isArray(schema.enum)) {
    return 'select';
  }
  switch (schema.type) {
    case 'boolean':
      return 'switch';
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'array':
      return 'list';
    default:
      return 'text';
  }
}

function param(key: string, schema: PropSchema, suggest?: Suggest): Param {
  return { key, schema, label: labelOf(key, schema), control: controlOf(schema), suggest };
}

/** The key whose `const` tells the branches of `oneOf` apart (`source`, `signal`). */
export function discriminator(oneOf: readonly ObjectSchema[]): string {
  const keys = Object.keys(oneOf[0]?.properties ?? {}).filter((key) =>
    oneOf.every((branch) => branch.properties?.[key]?.const !== undefined)
  );
  if (keys.length !== 1) {
    throw new Error(`query schema: no single key tells the oneOf branches apart (${keys.join(', ')})`);
  }
  return keys[0];
}

function variant(schema: ObjectSchema, key: string, params: Param[]): Variant {
  const value = String(schema.properties?.[key]?.const);
  return {
    value,
    label: schema['x-displayName'] ?? words(value),
    description: sentence(schema.description),
    schema,
    params,
    required: schema.required ?? [],
  };
}

function orderedParams(schema: ObjectSchema, suggestFor?: (key: string, prop: PropSchema) => Suggest | undefined) {
  return (schema['x-order'] ?? []).map((key) => {
    const prop = schema.properties?.[key];
    if (!prop) {
      throw new Error(`query schema: x-order names ${key}, which is not a property`);
    }
    return param(key, prop, suggestFor?.(key, prop));
  });
}

/** The key of the sources' `oneOf` (`source`). */
export const SOURCE_KEY = discriminator(QUERY_SCHEMA.oneOf ?? []);

/** The Source picker. */
export const SOURCE_PARAM: Param = param(SOURCE_KEY, QUERY_SCHEMA.properties?.[SOURCE_KEY] ?? {});

/** Parameters of every query (tick, capacity, backfill), in `x-order`. */
export const COMMON_PARAMS: Param[] = orderedParams(QUERY_SCHEMA).filter((p) => p.key !== SOURCE_KEY);

/**
 * A source that reads a connection offers discovery: its first required text parameter (the
 * topic) gets the `topics` resource's names, its other text and list parameters (time path,
 * fields) the `fields` resource's. Whether the backend knows names for a source is its answer.
 */
function suggestions(branch: ObjectSchema) {
  if (!branch['x-needsConnection']) {
    return undefined;
  }
  const address = (branch['x-order'] ?? []).find(
    (key) => branch.required?.includes(key) && controlOf(branch.properties?.[key] ?? {}) === 'text'
  );
  return (key: string, prop: PropSchema): Suggest | undefined => {
    const control = controlOf(prop);
    if (control !== 'text' && control !== 'list') {
      return undefined;
    }
    return key === address ? 'topics' : 'fields';
  };
}

export const SOURCES: SourceSpec[] = (QUERY_SCHEMA.oneOf ?? []).map((branch) => {
  const spec: SourceSpec = {
    ...variant(branch, SOURCE_KEY, orderedParams(branch, suggestions(branch))),
    needsConnection: branch['x-needsConnection'] === true,
  };
  if (branch.oneOf && branch.oneOf.length > 0) {
    const kindKey = discriminator(branch.oneOf);
    spec.kinds = {
      param: param(kindKey, branch.properties?.[kindKey] ?? {}),
      variants: branch.oneOf.map((kind) => variant(kind, kindKey, orderedParams(kind))),
    };
  }
  return spec;
});

/** A query or a settings object, read key by key. */
export function bag(value: object): Record<string, unknown> {
  return value as Record<string, unknown>;
}

type QueryLike = object;

/** The query's source (the schema's default when it has none); undefined for an unknown one. */
export function sourceOf(query: QueryLike): SourceSpec | undefined {
  const value = bag(query)[SOURCE_KEY] ?? SOURCE_PARAM.schema.default;
  return SOURCES.find((s) => s.value === value);
}

/** The query's kind within its source (a signal kind), if the source has kinds. */
export function kindOf(source: SourceSpec | undefined, query: QueryLike): Variant | undefined {
  if (!source?.kinds) {
    return undefined;
  }
  const { param: kindParam, variants } = source.kinds;
  const value = bag(query)[kindParam.key] ?? kindParam.schema.default;
  return variants.find((v) => v.value === value);
}

/** Every parameter the query's source and kind have, keyed by name (discriminators included). */
export function activeParams(query: QueryLike): Map<string, Param> {
  const out = new Map<string, Param>([[SOURCE_KEY, SOURCE_PARAM]]);
  const source = sourceOf(query);
  const kind = kindOf(source, query);
  if (source?.kinds) {
    out.set(source.kinds.param.key, source.kinds.param);
  }
  for (const p of [...(kind?.params ?? []), ...(source?.params ?? []), ...COMMON_PARAMS]) {
    out.set(p.key, p);
  }
  return out;
}

/** The keys the schema declares anywhere (every source and kind). */
export const SCHEMA_KEYS: ReadonlySet<string> = (() => {
  const keys = new Set<string>();
  const walk = (node: ObjectSchema) => {
    Object.keys(node.properties ?? {}).forEach((k) => keys.add(k));
    (node.oneOf ?? []).forEach(walk);
  };
  walk(QUERY_SCHEMA);
  return keys;
})();

/**
 * The query with `changes`, without the keys of the source or kind it leaves (a sine's
 * `amplitude` is not kept on a random query); Grafana's own keys (refId, datasource, …) stay.
 */
export function switchTo<T extends QueryLike>(query: T, changes: Record<string, unknown>): T {
  const next: Record<string, unknown> = { ...query, ...changes };
  const keep = activeParams(next);
  for (const key of Object.keys(next)) {
    if (SCHEMA_KEYS.has(key) && !keep.has(key)) {
      delete next[key];
    }
  }
  return next as T;
}

/** Text parameters of the query's source and kind: where dashboard variables are replaced. */
export function templatedKeys(query: QueryLike): string[] {
  return [...activeParams(query).values()]
    .filter((p) => p.control === 'text' || (p.control === 'list' && p.schema.items?.type === 'string'))
    .map((p) => p.key);
}

/** The signal kind a new query starts with: the tutorial's Math.random(). */
export const TUTORIAL_SIGNAL: SignalKind = 'random';

/**
 * A new query: the tutorial's stream, `Math.random()` every 100 ms into a ring of 1000 rows,
 * with backfill. Every value but the kind is the schema's default.
 */
export function defaultQuery(): Partial<RingstreamQuery> {
  const source = SOURCES.find((s) => s.kinds?.variants.some((v) => v.value === TUTORIAL_SIGNAL));
  if (!source?.kinds) {
    throw new Error(`query schema: no source has the signal kind ${TUTORIAL_SIGNAL}`);
  }
  const query: Record<string, unknown> = { [SOURCE_KEY]: source.value, [source.kinds.param.key]: TUTORIAL_SIGNAL };
  for (const p of COMMON_PARAMS) {
    if (p.schema.default !== undefined) {
      query[p.key] = p.schema.default;
    }
  }
  return query as Partial<RingstreamQuery>;
}

// -------------------------------------------------------------------------------------------
// Settings schema.

export interface Setting {
  /** `jsonData` or `secureJsonData`. */
  store: 'jsonData' | 'secureJsonData';
  key: string;
  schema: PropSchema;
  label: string;
  control: Control;
  secure: boolean;
}

/** Keys repeated `x-repeat` times (`httpHeaderName1..16` with `httpHeaderValue1..16`). */
export interface Repeat {
  /** The name in words, from the keys' common prefix: "HTTP header". */
  label: string;
  count: number;
  /** One column per repeated key: its prefix (`httpHeaderName`); keys are prefix + 1..count. */
  columns: Array<Omit<Setting, 'key'> & { prefix: string }>;
}

export interface Section {
  name: string;
  title: string;
  settings: Setting[];
  repeats: Repeat[];
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) {
    i++;
  }
  // Back to a word boundary (a capital letter starts the next word).
  while (i > 0 && i < a.length && !/[A-Z]/.test(a[i])) {
    i--;
  }
  return a.slice(0, i);
}

/** The settings, grouped by `x-section`: the sources' sections first, in source order. */
export const SECTIONS: Section[] = (() => {
  const sections = new Map<string, Section>();
  const section = (name: string) => {
    let s = sections.get(name);
    if (!s) {
      const source = SOURCES.find((src) => src.value === name);
      s = { name, title: source?.label ?? words(name), settings: [], repeats: [] };
      sections.set(name, s);
    }
    return s;
  };
  const repeats = new Map<string, Repeat>();
  for (const store of ['jsonData', 'secureJsonData'] as const) {
    const node = SETTINGS_SCHEMA.properties[store];
    for (const [key, schema] of entriesOf(node.properties)) {
      const name = schema['x-section'] ?? 'common';
      section(name).settings.push({
        store,
        key,
        schema,
        label: labelOf(key, schema, name),
        control: controlOf(schema),
        secure: schema['x-secure'] === true,
      });
    }
    for (const [pattern, schema] of entriesOf(node.patternProperties)) {
      const prefix = /^\^([A-Za-z]+)\(/.exec(pattern)?.[1];
      const count = schema['x-repeat'];
      if (!prefix || !count) {
        throw new Error(`settings schema: cannot read the repeated keys ${pattern}`);
      }
      const name = schema['x-section'] ?? 'common';
      const id = `${name}/${count}`;
      let repeat = repeats.get(id);
      if (!repeat) {
        repeat = { label: '', count, columns: [] };
        repeats.set(id, repeat);
        section(name).repeats.push(repeat);
      }
      repeat.columns.push({
        store,
        prefix,
        schema,
        label: '',
        control: controlOf(schema),
        secure: schema['x-secure'] === true,
      });
    }
  }
  for (const repeat of repeats.values()) {
    const prefixes = repeat.columns.map((c) => c.prefix);
    const shared = prefixes.reduce(commonPrefix);
    repeat.label = words(shared || prefixes[0]);
    for (const column of repeat.columns) {
      column.label = words(column.prefix.slice(shared.length) || column.prefix);
    }
  }
  // URLs (the connection's address) first within a section; then the schema's order.
  for (const s of sections.values()) {
    s.settings.sort((a, b) => Number(!a.schema['x-schemes']) - Number(!b.schema['x-schemes']));
  }
  const order = (s: Section) => {
    const i = SOURCES.findIndex((src) => src.value === s.name);
    return i < 0 ? SOURCES.length : i;
  };
  return [...sections.values()].sort((a, b) => order(a) - order(b));
})();

/** The data source setting holding the connection address of `source`, if any. */
export function connectionSetting(source: SourceSpec): Setting | undefined {
  return SECTIONS.find((s) => s.name === source.value)?.settings.find((s) => s.schema['x-schemes']);
}
