/**
 * Checks queries and settings against the backend's schemas with a real JSON Schema 2020-12
 * validator (ajv), before anything is sent: each problem is keyed by the field it belongs to,
 * so that the editors show it under that field. Rules the schema cannot express (MQTT topic
 * filters, WebSocket paths) are the backend's: see DataSource.validateQuery.
 */
import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import type { SchemaValidateFunction } from 'ajv/dist/types';
import addFormats from 'ajv-formats';

import {
  activeParams,
  bag,
  kindOf,
  labelOf,
  SETTINGS_SCHEMA,
  sourceOf,
  SOURCES,
  type ObjectSchema,
  type PropSchema,
} from './schema';
import { querySchema, settingsSchema } from './schema.gen';

/** Field key → what is wrong with its value. */
export type Problems = Record<string, string>;

/** The `x-` keywords of a schema: annotations for the editors, no rule for ajv. */
function extensionKeywords(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    node.forEach((n) => extensionKeywords(n, out));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('x-')) {
        out.add(key);
      }
      extensionKeywords(value, out);
    }
  }
  return out;
}

/** `mqtt://host` has a scheme of `x-schemes` (and something after it). */
export function schemeProblem(value: string, schemes: readonly string[]): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.+)$/i.exec(value.trim());
  if (match && schemes.includes(match[1].toLowerCase())) {
    return undefined;
  }
  return `Use ${schemes.map((s) => `${s}://`).join(' or ')} followed by the host`;
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const checked = new Set(['x-schemes']);
ajv.addVocabulary(
  [...extensionKeywords([querySchema, settingsSchema])].filter((k) => !checked.has(k))
);
const schemes: SchemaValidateFunction = (allowed: string[], data: string) => {
  const problem = data === '' ? undefined : schemeProblem(data, allowed);
  if (problem) {
    schemes.errors = [{ keyword: 'x-schemes', message: problem, params: { allowed } }];
    return false;
  }
  return true;
};
ajv.addKeyword({ keyword: 'x-schemes', type: 'string', schemaType: 'array', errors: true, validate: schemes });

const validateQuerySchema = ajv.compile(querySchema);
const validateSettingsSchema = ajv.compile(settingsSchema);

function plural(n: number, word: string) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What a failed keyword means, in the editor's words. */
function describe(error: ErrorObject, schema: PropSchema | undefined, label: string): string {
  const unit = schema?.['x-unit'] ? ` ${schema['x-unit']}` : '';
  const range = () => {
    const { minimum, maximum } = schema ?? {};
    if (minimum !== undefined && maximum !== undefined) {
      return `Between ${minimum} and ${maximum}${unit}`;
    }
    return undefined;
  };
  switch (error.keyword) {
    case 'minimum':
      return range() ?? `At least ${error.params.limit}${unit}`;
    case 'maximum':
      return range() ?? `At most ${error.params.limit}${unit}`;
    case 'type':
      if (error.params.type === 'integer') {
        return 'A whole number';
      }
      return error.params.type === 'number' ? 'A number' : `Must be a ${error.params.type}`;
    case 'maxLength':
      return `At most ${plural(error.params.limit, 'character')}`;
    case 'minLength':
      return error.params.limit === 1 ? 'Must not be empty' : `At least ${plural(error.params.limit, 'character')}`;
    case 'maxItems':
      return `At most ${error.params.limit}`;
    case 'uniqueItems':
      return 'Each value only once';
    case 'enum':
      return `One of ${error.params.allowedValues.join(', ')}`;
    case 'const':
      return `Must be ${error.params.allowedValue}`;
    case 'required':
      return `${label} is needed`;
    case 'format':
      return error.params.format === 'uri' ? 'Not a valid URL' : `Not a valid ${error.params.format}`;
    default:
      return error.message ? error.message.charAt(0).toUpperCase() + error.message.slice(1) : 'Not allowed';
  }
}

/** The top-level key an error is about (`/fields/2` → `fields`, a missing `topic` → `topic`). */
function errorKey(error: ErrorObject, depth = 0): string | undefined {
  if (error.keyword === 'required') {
    const parent = error.instancePath.split('/').filter(Boolean);
    return parent.length === depth ? String(error.params.missingProperty) : parent[depth];
  }
  return error.instancePath.split('/').filter(Boolean)[depth];
}

/** The schema paths (`#`, `#/oneOf/1`, `#/oneOf/0/oneOf/2`) of the branches `query` is in. */
function chosenPaths(query: object): string[] {
  const paths = ['#'];
  const source = sourceOf(query);
  if (!source) {
    return paths;
  }
  const i = SOURCES.indexOf(source);
  paths.push(`#/oneOf/${i}`);
  const kind = kindOf(source, query);
  if (kind && source.kinds) {
    paths.push(`#/oneOf/${i}/oneOf/${source.kinds.variants.indexOf(kind)}`);
  }
  return paths;
}

/** The errors of the branches the query is in; `oneOf` reports every other branch too. */
function ownErrors(errors: ErrorObject[], paths: string[]): ErrorObject[] {
  return errors.filter((e) =>
    paths.some(
      (p) =>
        e.schemaPath.startsWith(`${p}/properties/`) ||
        e.schemaPath === `${p}/required` ||
        e.schemaPath === `${p}/type`
    )
  );
}

/** `max` above `min` (`x-greaterThan`), each taking its default when it is not set. */
function greaterThanProblems(query: object): Problems {
  const problems: Problems = {};
  const values = bag(query);
  const params = activeParams(query);
  for (const p of params.values()) {
    const other = p.schema['x-greaterThan'];
    const otherParam = other ? params.get(other) : undefined;
    if (!other || !otherParam) {
      continue;
    }
    const value = values[p.key] ?? p.schema.default;
    const bound = values[other] ?? otherParam.schema.default;
    if (typeof value === 'number' && typeof bound === 'number' && !(value > bound)) {
      problems[p.key] = `Above ${otherParam.label} (${bound})`;
    }
  }
  return problems;
}

/** What is wrong with a query, by field; empty when the schema allows it. */
export function queryProblems(query: object): Problems {
  const problems: Problems = {};
  if (!validateQuerySchema(query)) {
    const params = activeParams(query);
    for (const error of ownErrors(validateQuerySchema.errors ?? [], chosenPaths(query))) {
      const key = errorKey(error);
      if (key && !problems[key]) {
        const p = params.get(key);
        problems[key] = describe(error, p?.schema, p?.label ?? key);
      }
    }
  }
  for (const [key, problem] of Object.entries(greaterThanProblems(query))) {
    problems[key] ??= problem;
  }
  return problems;
}

/** What is wrong with a data source's settings, by setting key; empty when none is. */
export function settingsProblems(settings: { jsonData?: object; secureJsonData?: object }): Problems {
  const problems: Problems = {};
  const value = { jsonData: settings.jsonData ?? {}, secureJsonData: settings.secureJsonData ?? {} };
  if (!validateSettingsSchema(value)) {
    for (const error of validateSettingsSchema.errors ?? []) {
      const store = errorKey(error) as 'jsonData' | 'secureJsonData' | undefined;
      const key = errorKey(error, 1);
      if (!store || !key || problems[key]) {
        continue;
      }
      const node: ObjectSchema | undefined = SETTINGS_SCHEMA.properties[store];
      const schema =
        node?.properties?.[key] ??
        Object.entries(node?.patternProperties ?? {}).find(([pattern]) => new RegExp(pattern).test(key))?.[1];
      problems[key] = describe(error, schema, labelOf(key, schema ?? {}));
    }
  }
  return problems;
}
