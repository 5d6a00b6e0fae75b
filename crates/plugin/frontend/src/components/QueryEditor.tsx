/**
 * The query editor, drawn from the query schema: a Source picker (one option per source
 * branch), the kind picker of a source that has kinds (the signal kind), then exactly the
 * parameters of the chosen source and kind in their `x-order`, then the parameters every
 * query has. Values the schema refuses are flagged under their field and the query is not
 * run; the backend's own rules (topic filters, paths) come from its `validate` resource.
 */
import React, { useEffect, useMemo, useState } from 'react';
import type { QueryEditorProps, SelectableValue } from '@grafana/data';
import { Alert, InlineField, InlineFieldRow } from '@grafana/ui';

import type { DataSource } from '../datasource';
import {
  bag,
  COMMON_PARAMS,
  connectionSetting,
  kindOf,
  sentence,
  SOURCE_PARAM,
  sourceOf,
  SOURCES,
  switchTo,
  type Param,
} from '../schema';
import type { RingstreamJsonData, RingstreamQuery } from '../types';
import { queryProblems } from '../validation';
import {
  enumOptions,
  ListControl,
  NumberControl,
  SelectControl,
  SuggestControl,
  type Suggestions,
  SwitchControl,
  TextControl,
} from './controls';

type Props = QueryEditorProps<DataSource, RingstreamQuery, RingstreamJsonData>;

const LABEL_WIDTH = 18;
/** How long typing pauses before the backend checks the query. */
export const VALIDATE_DELAY_MS = 300;

/** A copy of `query` with `key` set, or without it when `value` is undefined. */
function withKey(query: RingstreamQuery, key: string, value: unknown): RingstreamQuery {
  const next = { ...query };
  if (value === undefined) {
    delete bag(next)[key];
  } else {
    bag(next)[key] = value;
  }
  return next;
}

/** The backend's verdict on the query being shown (debounced while it changes). */
function useBackendCheck(datasource: DataSource, query: RingstreamQuery, locallyValid: boolean) {
  const [verdict, setVerdict] = useState<{ for: string; field?: string; problem: string } | undefined>();
  const key = JSON.stringify(query);
  useEffect(() => {
    if (!locallyValid) {
      return undefined;
    }
    let live = true;
    const timer = setTimeout(() => {
      datasource.validateQuery(query).then((answer) => {
        if (live) {
          setVerdict(answer.ok ? undefined : { for: key, field: answer.field, problem: answer.problem });
        }
      });
    }, VALIDATE_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // `key` stands for `query`: a new object with the same content is the same query.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [datasource, key, locallyValid]);
  // An answer about an earlier version of the query is not shown.
  return locallyValid && verdict?.for === key ? verdict : undefined;
}

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const problems = useMemo(() => queryProblems(query), [query]);
  const valid = Object.keys(problems).length === 0;
  const backend = useBackendCheck(datasource, query, valid);
  const source = sourceOf(query);
  const kind = kindOf(source, query);
  const refId = query.refId || 'A';
  const record = bag(query);

  const change = (next: RingstreamQuery, run: boolean) => {
    onChange(next);
    if (run && Object.keys(queryProblems(next)).length === 0) {
      onRunQuery();
    }
  };
  const runIfValid = () => {
    if (valid) {
      onRunQuery();
    }
  };

  const loadTopics = async (filter: string): Promise<Suggestions> => {
    const answer = await datasource.topics(source?.value ?? '', filter);
    const topics = Array.isArray(answer?.topics) ? answer.topics : [];
    return { options: topics.map((t) => ({ value: t, label: t })), truncated: answer?.truncated };
  };
  const loadFields = async (): Promise<Suggestions> => {
    const fields = await datasource.fields(query);
    return { options: fields.map((f) => ({ value: f.name, label: f.name, description: f.type })) };
  };

  const problemOf = (key: string) => problems[key] ?? (backend?.field === key ? backend.problem : undefined);

  const field = (p: Param, control: React.ReactElement, grow = false) => {
    const problem = problemOf(p.key);
    return (
      <InlineField
        key={p.key}
        label={p.label}
        htmlFor={`ringstream-${p.key}-${refId}`}
        tooltip={sentence(p.schema.description)}
        labelWidth={LABEL_WIDTH}
        grow={grow}
        invalid={problem !== undefined}
        error={problem}
      >
        {control}
      </InlineField>
    );
  };

  const render = (p: Param) => {
    const id = `ringstream-${p.key}-${refId}`;
    const value = record[p.key];
    const invalid = problemOf(p.key) !== undefined;
    // Typed controls run the query when the value is complete (on blur), not per keystroke.
    const typed = {
      id,
      schema: p.schema,
      value,
      invalid,
      onChange: (v: unknown) => change(withKey(query, p.key, v), false),
      onBlur: runIfValid,
    };
    switch (p.control) {
      case 'number':
      case 'integer':
        return field(p, <NumberControl {...typed} />);
      case 'switch':
        return field(
          p,
          <SwitchControl
            id={id}
            value={typeof value === 'boolean' ? value : p.schema.default === true}
            onChange={(v) => change(withKey(query, p.key, v), true)}
          />
        );
      case 'select':
        return field(
          p,
          <SelectControl
            id={id}
            options={enumOptions(p.schema)}
            value={typeof value === 'string' ? value : (p.schema.default as string | undefined)}
            onChange={(v) => change(withKey(query, p.key, v), true)}
          />
        );
      case 'list':
        return field(
          p,
          <ListControl
            id={id}
            value={value}
            invalid={invalid}
            width={40}
            placeholder="All; type a name, Enter to add"
            load={loadFields}
            onChange={(v) => change(withKey(query, p.key, v), true)}
          />,
          true
        );
      default:
        if (p.suggest) {
          return field(
            p,
            <SuggestControl
              id={id}
              value={typeof value === 'string' ? value : undefined}
              invalid={invalid}
              width={p.suggest === 'topics' ? 48 : 24}
              placeholder="Type or pick"
              load={p.suggest === 'topics' ? loadTopics : loadFields}
              onChange={(v) => change(withKey(query, p.key, v), true)}
            />,
            p.suggest === 'topics'
          );
        }
        return field(p, <TextControl {...typed} />, true);
    }
  };

  const sourceOptions: Array<SelectableValue<string>> = SOURCES.map((s) => ({
    value: s.value,
    label: s.label,
    description: s.description,
  }));
  const head = [
    field(
      SOURCE_PARAM,
      <SelectControl
        id={`ringstream-${SOURCE_PARAM.key}-${refId}`}
        options={sourceOptions}
        value={source?.value ?? (record[SOURCE_PARAM.key] as string | undefined)}
        onChange={(v) => change(switchTo(query, { [SOURCE_PARAM.key]: v }), true)}
      />
    ),
  ];
  if (source?.kinds) {
    const kinds = source.kinds;
    head.push(
      field(
        kinds.param,
        <SelectControl
          id={`ringstream-${kinds.param.key}-${refId}`}
          options={kinds.variants.map((v) => ({ value: v.value, label: v.label, description: v.description }))}
          value={kind?.value}
          onChange={(v) => change(switchTo(query, { [kinds.param.key]: v }), true)}
        />
      )
    );
  }

  const connection = source?.needsConnection ? connectionSetting(source) : undefined;
  const address = connection ? bag(datasource.jsonData)[connection.key] : undefined;
  const shownKeys = new Set([
    SOURCE_PARAM.key,
    source?.kinds?.param.key,
    ...[...(kind?.params ?? []), ...(source?.params ?? []), ...COMMON_PARAMS].map((p) => p.key),
  ]);
  const unplaced = backend && (!backend.field || !shownKeys.has(backend.field)) ? backend : undefined;

  return (
    <div className="ringstream-query-editor" data-testid="ringstream-query-editor">
      <InlineFieldRow>{head}</InlineFieldRow>
      {kind && kind.params.length > 0 && <InlineFieldRow>{kind.params.map(render)}</InlineFieldRow>}
      {source && source.params.length > 0 && <InlineFieldRow>{source.params.map(render)}</InlineFieldRow>}
      <InlineFieldRow>{COMMON_PARAMS.map(render)}</InlineFieldRow>
      {connection && typeof address === 'string' && address !== '' && (
        <div className="ringstream-connection">Connects to {address} (set on the data source)</div>
      )}
      {connection && !address && (
        <Alert severity="warning" title={`No ${source?.label} connection`}>
          Set the {connection.label} in this data source&apos;s {source?.label} settings.
        </Alert>
      )}
      {unplaced && (
        <Alert severity="error" title="The data source refuses this query">
          {unplaced.field ? `${unplaced.field}: ` : ''}
          {unplaced.problem}
        </Alert>
      )}
    </div>
  );
}
