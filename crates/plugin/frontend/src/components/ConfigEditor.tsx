/**
 * The config editor (Connections → Data sources → Ringstream), drawn from the settings schema:
 * one group per `x-section` (the sources' sections first), each setting typed by the schema,
 * secrets (`x-secure`) with Grafana's SecretInput pattern, URLs checked against `x-schemes`,
 * numbers against their range, and repeated keys (`x-repeat`: the WebSocket headers) as rows
 * added one by one.
 */
import React, { useMemo, useState } from 'react';
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Button, FieldSet, IconButton, InlineField, InlineFieldRow, SecretInput, SecretTextArea } from '@grafana/ui';

import { SECTIONS, sentence, type Repeat, type Setting } from '../schema';
import type { RingstreamJsonData, RingstreamSecureJsonData } from '../types';
import { settingsProblems } from '../validation';
import { NumberControl, SwitchControl, TextControl } from './controls';

type Props = DataSourcePluginOptionsEditorProps<RingstreamJsonData, RingstreamSecureJsonData>;
type Options = Props['options'];
type Bag = Record<string, unknown>;

const LABEL_WIDTH = 24;
/** A secret this long (a PEM bundle) is edited in a text area. */
const TEXT_AREA_LENGTH = 65536;

function without(bag: Bag, key: string): Bag {
  const next = { ...bag };
  delete next[key];
  return next;
}

/** Grafana's pattern: forget that the secret is set and send an empty value in its place. */
export function resetSecret(options: Options, key: string): Options {
  return {
    ...options,
    secureJsonFields: { ...options.secureJsonFields, [key]: false },
    secureJsonData: { ...options.secureJsonData, [key]: '' },
  };
}

function setJson(options: Options, key: string, value: unknown): Options {
  const jsonData = (options.jsonData ?? {}) as Bag;
  const next = value === undefined ? without(jsonData, key) : { ...jsonData, [key]: value };
  return { ...options, jsonData: next as RingstreamJsonData };
}

function setSecret(options: Options, key: string, value: string): Options {
  return { ...options, secureJsonData: { ...options.secureJsonData, [key]: value } };
}

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = (options.jsonData ?? {}) as Bag;
  const secureJsonData = (options.secureJsonData ?? {}) as Bag;
  const secureJsonFields = options.secureJsonFields ?? {};
  const problems = useMemo(
    () => settingsProblems({ jsonData: options.jsonData, secureJsonData: options.secureJsonData }),
    [options.jsonData, options.secureJsonData]
  );

  const secret = (id: string, key: string, setting: Pick<Setting, 'schema'>, ariaLabel?: string) => {
    const common = {
      id,
      'aria-label': ariaLabel,
      isConfigured: secureJsonFields[key] === true,
      value: typeof secureJsonData[key] === 'string' ? (secureJsonData[key] as string) : '',
      placeholder: sentence(setting.schema.description),
      onReset: () => onOptionsChange(resetSecret(options, key)),
    };
    if ((setting.schema.maxLength ?? 0) >= TEXT_AREA_LENGTH) {
      return (
        <SecretTextArea
          {...common}
          cols={60}
          rows={7}
          onChange={(e) => onOptionsChange(setSecret(options, key, e.currentTarget.value))}
        />
      );
    }
    return (
      <SecretInput
        {...common}
        width={40}
        onChange={(e) => onOptionsChange(setSecret(options, key, e.currentTarget.value))}
      />
    );
  };

  const control = (setting: Setting, id: string) => {
    const { key, schema } = setting;
    if (setting.secure) {
      return secret(id, key, setting);
    }
    const invalid = problems[key] !== undefined;
    switch (setting.control) {
      case 'switch':
        return (
          <SwitchControl
            id={id}
            value={jsonData[key] === undefined ? schema.default === true : jsonData[key] === true}
            onChange={(v) => onOptionsChange(setJson(options, key, v))}
          />
        );
      case 'number':
      case 'integer':
        return (
          <NumberControl
            id={id}
            schema={schema}
            value={jsonData[key]}
            invalid={invalid}
            onChange={(v) => onOptionsChange(setJson(options, key, v))}
          />
        );
      default:
        return (
          <TextControl
            id={id}
            schema={schema}
            value={jsonData[key]}
            invalid={invalid}
            width={40}
            placeholder={schema['x-schemes']?.map((s) => `${s}://…`).join(' or ')}
            onChange={(v) => onOptionsChange(setJson(options, key, v))}
          />
        );
    }
  };

  return (
    <div className="ringstream-config-editor" data-testid="ringstream-config-editor">
      {SECTIONS.map((section) => (
        <FieldSet key={section.name} label={section.title}>
          {section.settings.map((setting) => {
            const id = `ringstream-cfg-${setting.key}`;
            return (
              <InlineField
                key={setting.key}
                label={setting.label}
                htmlFor={id}
                tooltip={sentence(setting.schema.description)}
                labelWidth={LABEL_WIDTH}
                invalid={problems[setting.key] !== undefined}
                error={problems[setting.key]}
              >
                {control(setting, id)}
              </InlineField>
            );
          })}
          {section.repeats.map((repeat) => (
            <RepeatRows
              key={repeat.columns.map((c) => c.prefix).join('+')}
              repeat={repeat}
              options={options}
              onOptionsChange={onOptionsChange}
              problems={problems}
              secret={secret}
            />
          ))}
        </FieldSet>
      ))}
    </div>
  );
}

interface RepeatProps {
  repeat: Repeat;
  options: Options;
  onOptionsChange: (options: Options) => void;
  problems: Record<string, string>;
  secret: (id: string, key: string, setting: Pick<Setting, 'schema'>, ariaLabel?: string) => React.ReactElement;
}

/** Numbered keys (1..x-repeat): the configured ones, plus rows added with the button. */
function RepeatRows({ repeat, options, onOptionsChange, problems, secret }: RepeatProps) {
  const jsonData = (options.jsonData ?? {}) as Bag;
  const secureJsonData = (options.secureJsonData ?? {}) as Bag;
  const secureJsonFields = options.secureJsonFields ?? {};
  const [added, setAdded] = useState<number[]>([]);

  const numbers = Array.from({ length: repeat.count }, (_, i) => i + 1);
  const configured = (n: number) =>
    repeat.columns.some((c) => {
      const key = `${c.prefix}${n}`;
      return c.store === 'jsonData'
        ? jsonData[key] !== undefined && jsonData[key] !== ''
        : secureJsonFields[key] === true || (typeof secureJsonData[key] === 'string' && secureJsonData[key] !== '');
    });
  const shown = numbers.filter((n) => configured(n) || added.includes(n));
  const next = numbers.find((n) => !shown.includes(n));

  const remove = (n: number) => {
    let opts = options;
    for (const c of repeat.columns) {
      const key = `${c.prefix}${n}`;
      if (c.store === 'jsonData') {
        opts = setJson(opts, key, undefined);
      } else if (secureJsonFields[key] === true || secureJsonData[key] !== undefined) {
        opts = resetSecret(opts, key);
      }
    }
    setAdded((a) => a.filter((x) => x !== n));
    onOptionsChange(opts);
  };

  return (
    <>
      {shown.map((n) => {
        const rowLabel = `${repeat.label} ${n}`;
        return (
          <InlineFieldRow key={n}>
            {repeat.columns.map((c, i) => {
              const key = `${c.prefix}${n}`;
              const id = `ringstream-cfg-${key}`;
              const aria = `${rowLabel} ${c.label.toLowerCase()}`;
              return (
                <InlineField
                  key={key}
                  label={i === 0 ? rowLabel : c.label}
                  htmlFor={id}
                  tooltip={sentence(c.schema.description)}
                  labelWidth={i === 0 ? LABEL_WIDTH : 'auto'}
                  invalid={problems[key] !== undefined}
                  error={problems[key]}
                >
                  {c.secure ? (
                    secret(id, key, c, aria)
                  ) : (
                    <TextControl
                      id={id}
                      ariaLabel={aria}
                      schema={c.schema}
                      value={jsonData[key]}
                      invalid={problems[key] !== undefined}
                      width={24}
                      onChange={(v) => onOptionsChange(setJson(options, key, v))}
                    />
                  )}
                </InlineField>
              );
            })}
            <IconButton name="trash-alt" tooltip={`Remove ${rowLabel}`} onClick={() => remove(n)} />
          </InlineFieldRow>
        );
      })}
      <Button
        variant="secondary"
        icon="plus"
        type="button"
        disabled={next === undefined}
        onClick={() => next !== undefined && setAdded((a) => [...a, next])}
      >
        Add {repeat.label}
      </Button>
    </>
  );
}
