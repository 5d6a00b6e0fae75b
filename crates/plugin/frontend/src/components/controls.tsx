/**
 * The editors' controls, one per kind of schema property: a number input with the schema's
 * range, a select for an enum, a switch for a boolean, a text input, a multi-value input for
 * a list, and selects that offer suggestions from the backend while allowing any value.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';
import type { SelectableValue } from '@grafana/data';
import { InlineSwitch, Input, MultiSelect, Select } from '@grafana/ui';

import { type PropSchema, words } from '../schema';

/** The text of a number input as a number: undefined when empty, NaN kept out. */
export function parseNumber(text: string): number | undefined {
  if (text.trim() === '') {
    return undefined;
  }
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** The schema's default, as a placeholder. */
export function placeholderOf(schema: PropSchema): string | undefined {
  if (schema.default === undefined || schema.default === null || typeof schema.default === 'object') {
    return undefined;
  }
  return String(schema.default);
}

interface NumberProps {
  id: string;
  schema: PropSchema;
  value: unknown;
  invalid: boolean;
  width?: number;
  onChange: (value: number | undefined) => void;
  onBlur?: () => void;
}

/** A number input: `minimum`/`maximum` as its range, whole steps for an integer. */
export function NumberControl({ id, schema, value, invalid, width = 14, onChange, onBlur }: NumberProps) {
  // What was typed, so that "1e" or "-" stay in the field while they are not numbers yet.
  const [text, setText] = useState(value === undefined || value === null ? '' : String(value));
  const shown = parseNumber(text) === value || (text === '' && value === undefined) ? text : String(value ?? '');
  return (
    <Input
      id={id}
      type="number"
      width={width}
      min={schema.minimum}
      max={schema.maximum}
      step={schema.type === 'integer' ? 1 : 'any'}
      placeholder={placeholderOf(schema)}
      value={shown}
      invalid={invalid}
      onChange={(e) => {
        setText(e.currentTarget.value);
        onChange(parseNumber(e.currentTarget.value));
      }}
      onBlur={onBlur}
    />
  );
}

interface TextProps {
  id: string;
  ariaLabel?: string;
  schema: PropSchema;
  value: unknown;
  invalid: boolean;
  width?: number;
  placeholder?: string;
  onChange: (value: string | undefined) => void;
  onBlur?: () => void;
}

export function TextControl({ id, ariaLabel, schema, value, invalid, width, placeholder, onChange, onBlur }: TextProps) {
  return (
    <Input
      id={id}
      aria-label={ariaLabel}
      width={width}
      placeholder={placeholder ?? placeholderOf(schema)}
      value={typeof value === 'string' ? value : ''}
      invalid={invalid}
      onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value)}
      onBlur={onBlur}
    />
  );
}

/** Options of an enum, in the schema's order; labels from the values. */
export function enumOptions(schema: PropSchema): Array<SelectableValue<string>> {
  return (schema.enum ?? []).map((v) => ({ value: String(v), label: words(String(v)) }));
}

interface SelectProps {
  id: string;
  options: Array<SelectableValue<string>>;
  value: string | undefined;
  width?: number;
  onChange: (value: string) => void;
}

export function SelectControl({ id, options, value, width = 20, onChange }: SelectProps) {
  return (
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Combobox is not in Grafana 10.4 (plugin.json: >=10.4.0)
    <Select
      inputId={id}
      width={width}
      options={options}
      value={options.find((o) => o.value === value) ?? null}
      onChange={(option) => option?.value !== undefined && onChange(option.value)}
    />
  );
}

interface SwitchProps {
  id: string;
  value: boolean;
  onChange: (value: boolean) => void;
}

export function SwitchControl({ id, value, onChange }: SwitchProps) {
  return <InlineSwitch id={id} value={value} onChange={(e) => onChange(e.currentTarget.checked)} />;
}

/** What a suggestion source answers: the options, and whether there are more than these. */
export interface Suggestions {
  options: Array<SelectableValue<string>>;
  truncated?: boolean;
}

/** Loads suggestions (debounced while typing); a failure is no suggestions, never an error. */
function useSuggestions(load: (filter: string) => Promise<Suggestions>) {
  const [state, setState] = useState<{ loading: boolean; options: Array<SelectableValue<string>>; truncated: boolean }>({
    loading: false,
    options: [],
    truncated: false,
  });
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);

  const fetchNow = useCallback(
    (filter: string) => {
      const n = ++seq.current;
      setState((s) => ({ ...s, loading: true }));
      load(filter).then(
        (answer) => {
          if (n === seq.current) {
            setState({ loading: false, options: answer.options, truncated: Boolean(answer.truncated) });
          }
        },
        () => {
          // The backend lists no names for this source (or is unreachable): free text only.
          if (n === seq.current) {
            setState({ loading: false, options: [], truncated: false });
          }
        }
      );
    },
    [load]
  );
  const fetchSoon = useCallback(
    (filter: string) => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => fetchNow(filter), 250);
    },
    [fetchNow]
  );
  return { ...state, fetchNow, fetchSoon };
}

interface SuggestProps {
  id: string;
  value: string | undefined;
  invalid: boolean;
  width?: number;
  placeholder?: string;
  load: (filter: string) => Promise<Suggestions>;
  onChange: (value: string | undefined) => void;
}

/** A single value, typed freely or picked from the backend's suggestions (loaded as you type). */
export function SuggestControl({ id, value, invalid, width, placeholder, load, onChange }: SuggestProps) {
  const { loading, options, truncated, fetchNow, fetchSoon } = useSuggestions(load);
  const current = value ? [{ value, label: value }] : [];
  return (
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Combobox is not in Grafana 10.4 (plugin.json: >=10.4.0)
    <Select
      inputId={id}
      width={width}
      invalid={invalid}
      placeholder={placeholder}
      allowCustomValue
      isClearable
      createOptionPosition="first"
      formatCreateLabel={(text) => `Use ${text}`}
      isLoading={loading}
      loadingMessage="Looking up names…"
      noOptionsMessage={truncated ? 'Too many names: type to narrow' : 'No names seen yet: type one'}
      options={options}
      // The backend matched the filter already (MQTT wildcards included): show what it found.
      filterOption={() => true}
      value={current[0] ?? null}
      onOpenMenu={() => fetchNow(value ?? '')}
      onInputChange={(text, meta) => {
        if (meta.action === 'input-change') {
          fetchSoon(text);
        }
      }}
      onChange={(option) => onChange(option?.value || undefined)}
      onCreateOption={(text) => onChange(text || undefined)}
    />
  );
}

interface ListProps {
  id: string;
  value: unknown;
  invalid: boolean;
  width?: number;
  placeholder?: string;
  load: (filter: string) => Promise<Suggestions>;
  onChange: (value: string[] | undefined) => void;
}

/** Several values: typed (Enter adds one) or picked from the backend's suggestions. */
export function ListControl({ id, value, invalid, width, placeholder, load, onChange }: ListProps) {
  const { loading, options, fetchNow } = useSuggestions(load);
  const values = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  return (
    <MultiSelect
      inputId={id}
      width={width}
      invalid={invalid}
      placeholder={placeholder}
      allowCustomValue
      createOptionPosition="first"
      formatCreateLabel={(text) => `Add ${text}`}
      isLoading={loading}
      noOptionsMessage="No fields seen yet: type one"
      options={options}
      value={values.map((v) => ({ value: v, label: v }))}
      onOpenMenu={() => fetchNow('')}
      onChange={(selected) => {
        const next = selected.map((o) => o.value).filter((v): v is string => typeof v === 'string' && v !== '');
        onChange(next.length > 0 ? next : undefined);
      }}
    />
  );
}
