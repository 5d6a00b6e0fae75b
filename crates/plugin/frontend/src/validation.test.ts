import { labelOf, SECTIONS, SOURCES, words } from './schema';
import { querySchema } from './schema.gen';
import { queryProblems, schemeProblem, settingsProblems } from './validation';

test('the tutorial query and the empty query are valid', () => {
  expect(queryProblems({})).toEqual({});
  expect(queryProblems({ refId: 'A', source: 'signal', signal: 'random', tickMs: 100, capacity: 1000, backfill: true })).toEqual({});
});

test('each problem is keyed by its field, only from the branch the query is in', () => {
  expect(queryProblems({ source: 'signal', signal: 'random', tickMs: 5, capacity: 1.5, min: 2, max: 2 })).toEqual({
    tickMs: 'Between 10 and 3600000 ms',
    capacity: 'A whole number',
    max: 'Above Min (2)',
  });
  // `max` alone is checked against min's default (0).
  expect(queryProblems({ signal: 'random', max: -1 })).toEqual({ max: 'Above Min (0)' });
  expect(queryProblems({ source: 'mqtt', fields: ['a', 'a'], timePath: 'x'.repeat(129) })).toEqual({
    topic: 'Topic is needed',
    fields: 'Each value only once',
    timePath: 'At most 128 characters',
  });
  expect(queryProblems({ source: 'signal', signal: 'sine', periodMs: 0 })).toEqual({ periodMs: 'Between 1 and 31536000000 ms' });
  expect(queryProblems({ source: 'serial' })).toEqual({ source: `One of ${SOURCES.map((s) => s.value).join(', ')}` });
  expect(queryProblems({ signal: 'triangle' })).toEqual({
    signal: 'One of random_walk, random, sine, square, sawtooth, counter',
  });
});

test('settings: URL schemes, ranges, lengths of repeated keys', () => {
  expect(settingsProblems({ jsonData: {}, secureJsonData: {} })).toEqual({});
  expect(
    settingsProblems({
      jsonData: { mqttUrl: 'tcp://broker', websocketUrl: 'wss://ok.example/feed', memoryLimitMb: 0, httpHeaderName3: 'x'.repeat(257) },
      secureJsonData: { httpHeaderValue2: 'y'.repeat(8193) },
    })
  ).toEqual({
    mqttUrl: 'Use mqtt:// or mqtts:// followed by the host',
    memoryLimitMb: 'Between 1 and 65536',
    httpHeaderName3: 'At most 256 characters',
    httpHeaderValue2: 'At most 8192 characters',
  });
  expect(schemeProblem('WSS://feed', ['ws', 'wss'])).toBeUndefined();
  expect(schemeProblem('wss://', ['ws', 'wss'])).toBe('Use ws:// or wss:// followed by the host');
});

test('labels come from the keys and x-unit; sources from x-displayName', () => {
  expect(words('random_walk')).toBe('Random walk');
  expect(words('tlsAuthWithCACert')).toBe('TLS auth with CA cert');
  expect(labelOf('periodMs', { 'x-unit': 'ms' })).toBe('Period (ms)');
  expect(labelOf('mqttClientId', {}, 'mqtt')).toBe('Client ID');
  expect(labelOf('anything', { title: 'Given' })).toBe('Given');
  // Every source by its x-displayName, in the schema's order; a section per source with
  // settings, then the common one.
  const branches = querySchema.oneOf;
  expect(SOURCES.map((s) => s.label)).toEqual(branches.map((b) => b['x-displayName']));
  expect(SOURCES.slice(0, 3).map((s) => s.label)).toEqual(['Signal', 'MQTT', 'WebSocket']);
  const withSettings = SOURCES.filter((s) => s.needsConnection).map((s) => s.label);
  expect(SECTIONS.map((s) => s.title)).toEqual([...withSettings, 'Common']);
});
