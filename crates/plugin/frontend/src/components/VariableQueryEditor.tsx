/** The editor of a query variable: which source's names, and a filter (wildcards allowed). */
import React, { useState } from 'react';
import type { QueryEditorProps } from '@grafana/data';
import { InlineField, InlineFieldRow, Input } from '@grafana/ui';

import type { DataSource } from '../datasource';
import { SOURCE_PARAM, sentence, SOURCES } from '../schema';
import type { RingstreamJsonData, RingstreamQuery, TopicVariableQuery } from '../types';
import { SelectControl } from './controls';

type Props = QueryEditorProps<DataSource, RingstreamQuery, RingstreamJsonData, TopicVariableQuery>;

export function VariableQueryEditor({ query, onChange }: Props) {
  const sources = SOURCES.filter((s) => s.needsConnection);
  const source = query.source ?? sources[0]?.value;
  const [filter, setFilter] = useState(query.filter ?? '');
  const address = sources.find((s) => s.value === source)?.params[0];
  return (
    <InlineFieldRow>
      <InlineField label="Source" htmlFor="ringstream-variable-source" tooltip={sentence(SOURCE_PARAM.schema.description)} labelWidth={16}>
        <SelectControl
          id="ringstream-variable-source"
          options={sources.map((s) => ({ value: s.value, label: s.label }))}
          value={source}
          onChange={(v) => onChange({ ...query, source: v })}
        />
      </InlineField>
      <InlineField
        label="Filter"
        htmlFor="ringstream-variable-filter"
        tooltip={`Which names to list: ${address?.schema.description ?? 'empty: all seen so far'}`}
        labelWidth={16}
        grow
      >
        <Input
          id="ringstream-variable-filter"
          value={filter}
          placeholder="All names seen so far"
          onChange={(e) => setFilter(e.currentTarget.value)}
          onBlur={() => onChange({ ...query, source, filter: filter === '' ? undefined : filter })}
        />
      </InlineField>
    </InlineFieldRow>
  );
}
