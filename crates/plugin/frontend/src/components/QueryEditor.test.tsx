import fs from 'fs';
import path from 'path';
import React, { useState } from 'react';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CoreApp } from '@grafana/data';

import { QueryEditor } from './QueryEditor';
import { dataSource, installBackend, installTemplateSrv, resource, type Route, type SentRequest } from '../test/grafana';
import type { RingstreamJsonData, RingstreamQuery } from '../types';

/** The schema file itself, as `cargo xtask schema` wrote it (not the generated TypeScript). */
const schema = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'schema', 'query.schema.json'), 'utf8')
);

const ok: Route = (r) => (r.url === resource('validate') ? { data: { ok: true } } : undefined);

function setup(initial: Partial<RingstreamQuery>, options: { route?: Route; jsonData?: RingstreamJsonData } = {}) {
  installTemplateSrv({ room: 'kitchen' });
  const sent = installBackend(options.route ?? ok);
  const ds = dataSource(options.jsonData ?? { mqttUrl: 'mqtt://broker:1883', websocketUrl: 'wss://feed.example' });
  const changes: RingstreamQuery[] = [];
  let runs = 0;
  function Host() {
    // Controlled, as Grafana renders it: each onChange comes back as the query prop.
    const [query, setQuery] = useState<RingstreamQuery>({ refId: 'A', ...initial });
    return (
      <QueryEditor
        query={query}
        datasource={ds}
        onChange={(next) => {
          changes.push(next);
          setQuery(next);
        }}
        onRunQuery={() => runs++}
      />
    );
  }
  const user = userEvent.setup();
  render(<Host />);
  return {
    ds,
    sent,
    user,
    last: () => changes[changes.length - 1],
    runs: () => runs,
    /** Lets the debounced `validate` call go out and come back. */
    settle: () => waitFor(() => expect(sent.some((r) => r.url === resource('validate'))).toBe(true)),
  };
}

/** The ids of the editor's controls in the order they are shown: `ringstream-<key>-A`. */
function shownKeys(): string[] {
  return [...screen.getByTestId('ringstream-query-editor').querySelectorAll('[id^="ringstream-"]')]
    .map((el) => /^ringstream-(\w+)-A$/.exec(el.id)?.[1])
    .filter((k): k is string => Boolean(k));
}

/** The InlineField of `label`: its control and the problem shown under it. */
function fieldOf(label: string): HTMLElement {
  return screen.getByText(label, { selector: 'label' }).parentElement!;
}

async function pick(user: ReturnType<typeof userEvent.setup>, label: string, option: RegExp) {
  await user.click(screen.getByLabelText(label));
  await user.click(await screen.findByRole('option', { name: option }));
}

test('a new query is the tutorial stream: Math.random() every 100 ms into 1000 rows', async () => {
  const { ds, settle } = setup({});
  const query = ds.getDefaultQuery(CoreApp.Dashboard);
  expect(query).toEqual({ source: 'signal', signal: 'random', tickMs: 100, capacity: 1000, backfill: true });
  await settle();
});

test('the default query shows Source Signal, kind Random, its parameters with their defaults', async () => {
  const { ds, settle } = setup(dataSource().getDefaultQuery(CoreApp.Dashboard));
  expect(ds).toBeDefined();
  expect(within(fieldOf('Source')).getByText('Signal')).toBeInTheDocument();
  expect(within(fieldOf('Signal')).getByText('Random')).toBeInTheDocument();
  expect(screen.getByLabelText('Min')).toHaveAttribute('placeholder', '0');
  expect(screen.getByLabelText('Max')).toHaveAttribute('placeholder', '1');
  expect(screen.getByLabelText('Tick (ms)')).toHaveValue(100);
  expect(screen.getByLabelText('Tick (ms)')).toHaveAttribute('min', '10');
  expect(screen.getByLabelText('Tick (ms)')).toHaveAttribute('max', '3600000');
  expect(screen.getByLabelText('Capacity (rows)')).toHaveValue(1000);
  expect(screen.getByLabelText('Backfill')).toBeChecked();
  expect(shownKeys()).toEqual(['source', 'signal', 'min', 'max', 'seed', 'tickMs', 'capacity', 'backfill']);
  await settle();
});

// Every source and every signal kind of the schema file: exactly its parameters, in x-order.
const cases: Array<[string, Partial<RingstreamQuery>, string[]]> = [];
for (const branch of schema.oneOf) {
  const source = branch.properties.source.const;
  const common = schema['x-order'].filter((k: string) => k !== 'source');
  if (branch.oneOf) {
    for (const kind of branch.oneOf) {
      const signal = kind.properties.signal.const;
      cases.push([
        `${source} / ${signal}`,
        { source, signal },
        ['source', 'signal', ...kind['x-order'], ...branch['x-order'], ...common],
      ]);
    }
  } else {
    cases.push([source, { source }, ['source', ...branch['x-order'], ...common]]);
  }
}

test.each(cases)('%s shows exactly its parameters in the schema order', async (_name, query, keys) => {
  const { settle, sent } = setup(query);
  expect(shownKeys()).toEqual(keys);
  // Every control is typed by its schema property.
  for (const key of keys) {
    const el = document.getElementById(`ringstream-${key}-A`)!;
    const prop = schema.properties[key] ?? findProp(key, query);
    if (prop.type === 'integer' || prop.type === 'number') {
      expect(el).toHaveAttribute('type', 'number');
      expect(el.getAttribute('min')).toBe(String(prop.minimum));
      expect(el.getAttribute('max')).toBe(String(prop.maximum));
      if (prop.default !== undefined) {
        expect(el).toHaveAttribute('placeholder', String(prop.default));
      }
    } else if (prop.type === 'boolean') {
      expect(el).toHaveAttribute('type', 'checkbox');
    }
  }
  const branch = schema.oneOf.find((b: { properties: { source: { const: string } } }) => b.properties.source.const === query.source);
  const needsTopic = (branch.required ?? []).some((k: string) => k !== 'source');
  if (query.source === 'signal' || !needsTopic) {
    // Nothing the schema requires is missing: the backend checks the rest at once (Redis:
    // exactly one of key and channel, a rule the schema does not hold).
    await settle();
  } else {
    // A source that needs a topic or path is not checked by the backend until it has one.
    await waitFor(() => expect(screen.getByText(/is needed/)).toBeInTheDocument());
    expect(sent).toEqual([]);
  }
});

function findProp(key: string, query: Partial<RingstreamQuery>) {
  const branch = schema.oneOf.find((b: { properties: { source: { const: string } } }) => b.properties.source.const === query.source);
  if (branch.properties[key]) {
    return branch.properties[key];
  }
  const kind = branch.oneOf.find((k: { properties: { signal: { const: string } } }) => k.properties.signal.const === query.signal);
  return kind.properties[key];
}

test('picking a kind and typing its parameters makes the query; switching drops the old kind’s keys', async () => {
  const { user, last, runs, settle } = setup({ source: 'signal', signal: 'random', min: 2, max: 3, tickMs: 100 });
  await pick(user, 'Signal', /^Sine/);
  expect(last()).toEqual({ refId: 'A', source: 'signal', signal: 'sine', tickMs: 100 });
  expect(runs()).toBe(1);

  await user.type(screen.getByLabelText('Amplitude'), '10');
  await user.type(screen.getByLabelText('Period (ms)'), '60000');
  await user.type(screen.getByLabelText('Offset'), '-2.5');
  await user.clear(screen.getByLabelText('Tick (ms)'));
  await user.type(screen.getByLabelText('Tick (ms)'), '500');
  await user.click(screen.getByLabelText('Backfill'));
  expect(last()).toEqual({
    refId: 'A',
    source: 'signal',
    signal: 'sine',
    amplitude: 10,
    periodMs: 60000,
    offset: -2.5,
    tickMs: 500,
    backfill: false,
  });
  // The switch runs at once; the text fields run when they are left (4 blurs, each valid).
  expect(runs()).toBe(6);

  await user.clear(screen.getByLabelText('Offset'));
  expect(last().offset).toBeUndefined();
  await settle();
});

test('a value outside the schema is flagged under its field and the query does not run', async () => {
  const { user, last, runs, sent } = setup({ source: 'signal', signal: 'random' });
  await user.clear(screen.getByLabelText('Tick (ms)'));
  await user.type(screen.getByLabelText('Tick (ms)'), '5');
  await user.tab();
  expect(last().tickMs).toBe(5);
  expect(within(fieldOf('Tick (ms)')).getByText('Between 10 and 3600000 ms')).toBeInTheDocument();
  expect(runs()).toBe(0);

  await user.type(screen.getByLabelText('Capacity (rows)'), '1.5');
  expect(within(fieldOf('Capacity (rows)')).getByText('A whole number')).toBeInTheDocument();

  // x-greaterThan: max above min, each with its default when not set.
  await user.type(screen.getByLabelText('Min'), '5');
  expect(within(fieldOf('Max')).getByText('Above Min (5)')).toBeInTheDocument();
  await user.tab();
  expect(runs()).toBe(0);
  // No backend check of a query the schema refuses: every one from `tickMs: 5` on (the
  // valid ones before it may be checked when the machine is slower than the debounce).
  await new Promise((r) => setTimeout(r, 400));
  const refused = (r: (typeof sent)[number]) => (r.data as { tickMs?: number } | undefined)?.tickMs === 5;
  expect(sent.filter((r) => r.url === resource('validate') && refused(r))).toEqual([]);
});

test('the backend’s validate answer is shown under the field it names', async () => {
  const route: Route = (r) => {
    if (r.url === resource('validate')) {
      const body = r.data as RingstreamQuery;
      return body.topic === 'plant/#/temp'
        ? { data: { ok: false, field: 'topic', problem: '# must be the last level of a topic filter' } }
        : { data: { ok: true } };
    }
    return undefined;
  };
  const { user, sent, last } = setup({ source: 'mqtt', topic: 'plant/#/temp' }, { route });
  await waitFor(() =>
    expect(within(fieldOf('Topic')).getByText('# must be the last level of a topic filter')).toBeInTheDocument()
  );
  expect(sent).toEqual([
    { method: 'POST', url: resource('validate'), data: { source: 'mqtt', topic: 'plant/#/temp' }, showErrorAlert: false },
  ]);

  // A better topic: the problem goes.
  await user.click(screen.getByLabelText('Topic'));
  await user.keyboard('{Backspace}');
  await user.type(screen.getByLabelText('Topic'), 'plant/+/temp{Enter}');
  expect(last().topic).toBe('plant/+/temp');
  await waitFor(() => expect(screen.queryByText('# must be the last level of a topic filter')).not.toBeInTheDocument());
});

test('a backend error (HTTP 400 with error and field) is shown under that field', async () => {
  const route: Route = (r) =>
    r.url === resource('validate') ? { status: 400, data: { error: 'path must start with /', field: 'path' } } : undefined;
  setup({ source: 'websocket', path: 'feed' }, { route });
  await waitFor(() => expect(within(fieldOf('Path')).getByText('path must start with /')).toBeInTheDocument());
});

test('template variables are replaced before the backend checks the query', async () => {
  const { sent } = setup({ source: 'mqtt', topic: 'home/$room/temp', timePath: 'ts' });
  await waitFor(() => expect(sent.length).toBe(1));
  expect(sent[0].data).toEqual({ source: 'mqtt', topic: 'home/kitchen/temp', timePath: 'ts' });
});

test('the topic offers the names the topics resource lists, loading as you type', async () => {
  const topics: Record<string, string[]> = {
    '': ['plant/a/temp', 'plant/b/temp', 'office/door'],
    plant: ['plant/a/temp', 'plant/b/temp'],
    'plant/+/temp': ['plant/a/temp', 'plant/b/temp'],
  };
  const route: Route = (r) => {
    const url = new URL(r.url, 'http://grafana');
    if (url.pathname === resource('topics')) {
      return { data: { topics: topics[url.searchParams.get('filter') ?? ''] ?? [], truncated: false } };
    }
    return ok(r);
  };
  const { user, sent, last, runs } = setup({ source: 'mqtt' }, { route });
  await user.click(screen.getByLabelText('Topic'));
  expect(await screen.findByRole('option', { name: 'office/door' })).toBeInTheDocument();
  expect(sent.map((r: SentRequest) => r.url)).toEqual([resource('topics?source=mqtt&limit=50')]);

  await user.type(screen.getByLabelText('Topic'), 'plant');
  await waitFor(() => expect(screen.queryByRole('option', { name: 'office/door' })).not.toBeInTheDocument());
  expect(sent.map((r) => r.url)).toContain(resource('topics?source=mqtt&limit=50&filter=plant'));
  expect(sent.every((r) => r.method === 'GET' && r.showErrorAlert === false)).toBe(true);
  await user.click(screen.getByRole('option', { name: 'plant/b/temp' }));
  expect(last()).toEqual({ refId: 'A', source: 'mqtt', topic: 'plant/b/temp' });
  expect(runs()).toBe(1);
});

test('a source the backend lists no names for still takes any typed value', async () => {
  const route: Route = (r) =>
    r.url.startsWith(resource('topics')) ? { status: 400, data: { error: 'no names for websocket', field: 'source' } } : ok(r);
  const { user, last, sent } = setup({ source: 'websocket' }, { route });
  await user.click(screen.getByLabelText('Path'));
  await waitFor(() => expect(sent.some((r) => r.url === resource('topics?source=websocket&limit=50'))).toBe(true));
  await user.type(screen.getByLabelText('Path'), '/ws/trades{Enter}');
  expect(last()).toEqual({ refId: 'A', source: 'websocket', path: '/ws/trades' });
  await waitFor(() => expect(sent.some((r) => r.url === resource('validate'))).toBe(true));
});

test('fields and time path offer the fields the stream has seen', async () => {
  const route: Route = (r) =>
    r.url.startsWith(resource('fields'))
      ? {
          data: {
            fields: [
              { name: 'ts', type: 'time' },
              { name: 'temp', type: 'number' },
              { name: 'unit', type: 'string' },
            ],
          },
        }
      : ok(r);
  const { user, sent, last } = setup({ source: 'mqtt', topic: 'plant/+/temp' }, { route });
  await user.click(screen.getByLabelText('Fields'));
  await user.click(await screen.findByRole('option', { name: /^temp/ }));
  expect(last().fields).toEqual(['temp']);
  const query = JSON.stringify({ source: 'mqtt', topic: 'plant/+/temp' });
  expect(sent.find((r) => r.url.startsWith(resource('fields')))?.url).toBe(
    resource(`fields?query=${encodeURIComponent(query)}`)
  );

  await user.click(screen.getByLabelText('Time path'));
  await user.click(await screen.findByRole('option', { name: /^ts/ }));
  expect(last()).toEqual({ refId: 'A', source: 'mqtt', topic: 'plant/+/temp', fields: ['temp'], timePath: 'ts' });
  await waitFor(() => expect(sent.some((r) => r.url === resource('validate'))).toBe(true));
});

test('switching the source keeps the common keys and drops the old source’s', async () => {
  const { user, last } = setup({ source: 'signal', signal: 'sine', amplitude: 3, seed: 9, tickMs: 250, capacity: 50 });
  await pick(user, 'Source', /^MQTT/);
  expect(last()).toEqual({ refId: 'A', source: 'mqtt', tickMs: 250, capacity: 50 });
  expect(within(fieldOf('Topic')).getByText('Topic is needed')).toBeInTheDocument();
});

test('a source whose connection is not set warns', async () => {
  const { settle } = setup({ source: 'mqtt', topic: 'a' }, { jsonData: {} });
  expect(screen.getByText('No MQTT connection')).toBeInTheDocument();
  expect(screen.getByText(/Set the URL in this data source's MQTT settings/)).toBeInTheDocument();
  await settle();
});

test('a source whose connection is set says where it connects', async () => {
  const { settle } = setup({ source: 'websocket', path: '/ws' });
  expect(screen.getByText('Connects to wss://feed.example (set on the data source)')).toBeInTheDocument();
  expect(screen.queryByText('No WebSocket connection')).not.toBeInTheDocument();
  await settle();
});
