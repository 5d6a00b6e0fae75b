import { CoreApp, dateTime, FieldType, type DataQueryRequest, type DataQueryResponse } from '@grafana/data';
import { DataSourceWithBackend } from '@grafana/runtime';
import { lastValueFrom, type Observable } from 'rxjs';

import { plugin } from './module';
import { DataSource } from './datasource';
import { dataSource, installBackend, installTemplateSrv, resource } from './test/grafana';
import type { RingstreamQuery, TopicVariableQuery } from './types';
import { TopicVariableSupport } from './variables';

beforeEach(() => {
  installTemplateSrv({ room: 'kitchen', device: 'press-7', rooms: ['kitchen', 'hall'] });
});

test('module.ts exports a DataSourcePlugin of a DataSourceWithBackend with both editors', () => {
  expect(plugin.DataSourceClass).toBe(DataSource);
  expect(dataSource()).toBeInstanceOf(DataSourceWithBackend);
  expect(plugin.components.ConfigEditor).toBeDefined();
  expect(plugin.components.QueryEditor).toBeDefined();
});

test('the default query is the tutorial stream, the schema defaults with the random kind', () => {
  expect(dataSource().getDefaultQuery(CoreApp.PanelEditor)).toEqual({
    source: 'signal',
    signal: 'random',
    tickMs: 100,
    capacity: 1000,
    backfill: true,
  });
});

test('applyTemplateVariables replaces dashboard and scoped variables in topic, path, time path and fields', () => {
  const ds = dataSource();
  const mqtt: RingstreamQuery = { refId: 'A', source: 'mqtt', topic: 'plant/$room/${device}/[[room]]', timePath: '$device.ts' };
  expect(ds.applyTemplateVariables(mqtt, {})).toEqual({
    refId: 'A',
    source: 'mqtt',
    topic: 'plant/kitchen/press-7/kitchen',
    timePath: 'press-7.ts',
  });
  expect(ds.applyTemplateVariables(mqtt, { room: { text: 'lab', value: 'lab' } }).topic).toBe('plant/lab/press-7/lab');
  expect(ds.applyTemplateVariables({ refId: 'B', source: 'websocket', path: '/ws/$device', fields: ['$room'] }, {})).toEqual({
    refId: 'B',
    source: 'websocket',
    path: '/ws/press-7',
    fields: ['kitchen'],
  });
  // A signal has no text parameters: nothing changes.
  const signal: RingstreamQuery = { refId: 'C', source: 'signal', signal: 'sine', amplitude: 2 };
  expect(ds.applyTemplateVariables(signal, {})).toEqual(signal);
});

test('filterQuery: hidden queries and queries without their source’s required key are not sent', () => {
  const ds = dataSource();
  expect(ds.filterQuery({ refId: 'A' })).toBe(true);
  expect(ds.filterQuery({ refId: 'A', hide: true })).toBe(false);
  expect(ds.filterQuery({ refId: 'A', source: 'mqtt' })).toBe(false);
  expect(ds.filterQuery({ refId: 'A', source: 'mqtt', topic: '' })).toBe(false);
  expect(ds.filterQuery({ refId: 'A', source: 'mqtt', topic: 'a/#' })).toBe(true);
  expect(ds.filterQuery({ refId: 'A', source: 'websocket', path: '/ws' })).toBe(true);
});

test('validateQuery posts the query (variables replaced, Grafana’s keys left out) and reads both answers', async () => {
  const sent = installBackend((r) => {
    const body = r.data as { topic?: string };
    if (body.topic === 'bad') {
      return { status: 400, data: { error: 'not a topic filter', field: 'topic' } };
    }
    return { data: body.topic === 'a/#/b' ? { ok: false, field: 'topic', problem: '# last' } : { ok: true } };
  });
  const ds = dataSource();
  const query: RingstreamQuery = { refId: 'A', datasource: { uid: 'rs1' }, source: 'mqtt', topic: '$room/#', hide: false };
  expect(await ds.validateQuery(query)).toEqual({ ok: true });
  expect(sent).toEqual([
    { method: 'POST', url: resource('validate'), data: { source: 'mqtt', topic: 'kitchen/#' }, showErrorAlert: false },
  ]);
  expect(await ds.validateQuery({ ...query, topic: 'a/#/b' })).toEqual({ ok: false, field: 'topic', problem: '# last' });
  expect(await ds.validateQuery({ ...query, topic: 'bad' })).toEqual({
    ok: false,
    field: 'topic',
    problem: 'not a topic filter',
  });
});

test('topics and fields call the resources with the URLs Grafana serves', async () => {
  const sent = installBackend((r) => {
    if (r.url.startsWith(resource('topics'))) {
      return { data: { topics: ['plant/a/temp'], truncated: true } };
    }
    return { data: { fields: [{ name: 'temp', type: 'number' }] } };
  });
  const ds = dataSource();
  expect(await ds.topics('mqtt', 'plant/$room/#', 10)).toEqual({ topics: ['plant/a/temp'], truncated: true });
  expect(await ds.fields({ refId: 'A', source: 'mqtt', topic: 'plant/#', fields: ['temp'] })).toEqual([
    { name: 'temp', type: 'number' },
  ]);
  expect(sent.map((r) => [r.method, r.url])).toEqual([
    ['GET', resource('topics?source=mqtt&limit=10&filter=plant%2Fkitchen%2F%23')],
    ['GET', resource(`fields?query=${encodeURIComponent('{"source":"mqtt","topic":"plant/#","fields":["temp"]}')}`)],
  ]);
});

test('query variables list the topics resource’s names (CustomVariableSupport)', async () => {
  const sent = installBackend(() => ({ data: { topics: ['plant/a/temp', 'plant/b/temp'], truncated: false } }));
  const ds = dataSource();
  expect(ds.variables).toBeInstanceOf(TopicVariableSupport);
  const support = ds.variables as TopicVariableSupport;
  expect(support.getType()).toBe('custom');
  expect(support.editor).toBeDefined();
  const request = {
    targets: [{ refId: 'variable', source: 'mqtt', filter: 'plant/+/temp' }],
    range: { from: dateTime(0), to: dateTime(1), raw: { from: 'now-1h', to: 'now' } },
  } as unknown as DataQueryRequest<TopicVariableQuery>;
  const response = await lastValueFrom(support.query(request) as Observable<DataQueryResponse>);
  const frame = response.data[0];
  expect(frame.fields.map((f: { name: string; type: FieldType }) => [f.name, f.type])).toEqual([['text', FieldType.string]]);
  expect(frame.fields[0].values).toEqual(['plant/a/temp', 'plant/b/temp']);
  expect(sent.map((r) => r.url)).toEqual([resource('topics?source=mqtt&limit=500&filter=plant%2F%2B%2Ftemp')]);
});
