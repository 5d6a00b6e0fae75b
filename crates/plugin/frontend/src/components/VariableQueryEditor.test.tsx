import React from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { VariableQueryEditor } from './VariableQueryEditor';
import { SOURCES } from '../schema';
import { dataSource, installTemplateSrv } from '../test/grafana';
import type { TopicVariableQuery } from '../types';

test('the variable editor picks a source that reads a connection and a filter', async () => {
  installTemplateSrv({});
  const changes: TopicVariableQuery[] = [];
  const user = userEvent.setup();
  render(
    <VariableQueryEditor
      datasource={dataSource()}
      query={{ refId: 'variable' }}
      onChange={(q) => changes.push(q)}
      onRunQuery={() => {}}
    />
  );
  await user.click(screen.getByLabelText('Source'));
  // The sources that read a connection of the data source, in the schema's order.
  const connected = SOURCES.filter((s) => s.needsConnection).map((s) => s.label);
  expect(connected.slice(0, 2)).toEqual(['MQTT', 'WebSocket']);
  expect(screen.getAllByRole('option').map((o) => o.textContent)).toEqual(connected);
  await user.click(screen.getByRole('option', { name: 'WebSocket' }));
  expect(changes.pop()).toEqual({ refId: 'variable', source: 'websocket' });
  await user.type(screen.getByLabelText('Filter'), 'plant/+/temp');
  await user.tab();
  expect(changes.pop()).toEqual({ refId: 'variable', source: 'mqtt', filter: 'plant/+/temp' });
});
