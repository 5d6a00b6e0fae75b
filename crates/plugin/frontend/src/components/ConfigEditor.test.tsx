import fs from 'fs';
import path from 'path';
import React, { useState } from 'react';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { DataSourceSettings } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { SECTIONS } from '../schema';
import type { RingstreamJsonData, RingstreamSecureJsonData } from '../types';
import { dataSourceSettings, PLUGIN_ID } from '../testing/settings';

/** The schema file itself, as `cargo xtask schema` wrote it. */
const schema = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'schema', 'settings.schema.json'), 'utf8')
);

type Settings = DataSourceSettings<RingstreamJsonData, RingstreamSecureJsonData>;

function settings(overrides: Partial<Settings> = {}): Settings {
  return dataSourceSettings(overrides);
}

test('the test settings carry the plugin id of plugin.json', () => {
  const root = path.resolve(__dirname, '..', '..', '..', '..', '..');
  const plugin = JSON.parse(fs.readFileSync(path.join(root, 'plugin.json'), 'utf8'));
  expect(settings().type).toBe(PLUGIN_ID);
  expect(plugin.id).toBe(PLUGIN_ID);
});

function setup(initial: Settings) {
  const changes: Settings[] = [];
  function Host() {
    const [options, setOptions] = useState(initial);
    return (
      <ConfigEditor
        options={options}
        onOptionsChange={(next) => {
          changes.push(next);
          setOptions(next);
        }}
      />
    );
  }
  const user = userEvent.setup();
  const view = render(<Host />);
  return { user, view, last: () => changes[changes.length - 1], changes };
}

function fieldOf(label: string, scope: Pick<typeof screen, 'getByText'> = screen): HTMLElement {
  return scope.getByText(label, { selector: 'label' }).parentElement!;
}

test('one group per x-section, the sources’ first, each with every setting of the schema', () => {
  setup(settings());
  const legends = [...document.querySelectorAll('legend')].map((l) => l.textContent);
  expect(legends).toEqual(SECTIONS.map((s) => s.title));
  expect(legends.slice(0, 2)).toEqual(['MQTT', 'WebSocket']);
  expect(legends[legends.length - 1]).toBe('Common');
  const ids = [...document.querySelectorAll('[id^="ringstream-cfg-"]')].map((el) =>
    el.id.replace('ringstream-cfg-', '')
  );
  const declared = [
    ...Object.keys(schema.properties.jsonData.properties),
    ...Object.keys(schema.properties.secureJsonData.properties),
  ];
  expect([...ids].sort()).toEqual([...declared].sort());
  // Labels from the keys (the section's own prefix dropped), descriptions as tooltips.
  const section = (legend: string) => within(screen.getByText(legend, { selector: 'legend' }).parentElement!);
  const labels = (legend: string) =>
    section(legend)
      .getAllByText(/./, { selector: 'label' })
      .map((l) => l.textContent);
  expect(labels('MQTT')).toEqual(['URL', 'Allow', 'Client ID', 'Record', 'Username', 'Password']);
  expect(labels('WebSocket')).toEqual(['URL', 'Allow', 'Max connections', 'Record']);
  expect(labels('Common')).toEqual([
    'Memory limit MB',
    'Retention seconds',
    'TLS auth',
    'TLS auth with CA cert',
    'TLS skip verify',
    'TLS CA cert',
    'TLS client cert',
    'TLS client key',
  ]);
  // The description is the tooltip, the default switch state the schema's default (false).
  expect(screen.getByLabelText('TLS skip verify')).not.toBeChecked();
  expect(screen.getByRole('button', { name: /Add HTTP header/ })).toBeEnabled();
});

test('typing settings makes jsonData; URLs are checked against x-schemes, integers against their range', async () => {
  const { user, last } = setup(settings());
  const mqtt = within(screen.getByText('MQTT', { selector: 'legend' }).parentElement!);
  await user.type(mqtt.getByLabelText('URL'), 'http://broker');
  expect(last().jsonData.mqttUrl).toBe('http://broker');
  expect(
    within(mqtt.getByText('URL', { selector: 'label' }).parentElement!).getByText(
      'Use mqtt:// or mqtts:// followed by the host'
    )
  ).toBeInTheDocument();
  await user.clear(mqtt.getByLabelText('URL'));
  await user.type(mqtt.getByLabelText('URL'), 'mqtts://broker:8883');
  expect(mqtt.queryByText(/Use mqtt:\/\//)).not.toBeInTheDocument();
  await user.type(mqtt.getByLabelText('Username'), 'grafana');

  await user.type(screen.getByLabelText('Max connections'), '0');
  expect(within(fieldOf('Max connections')).getByText('Between 1 and 10000')).toBeInTheDocument();
  await user.type(screen.getByLabelText('Max connections'), '5');
  expect(screen.queryByText('Between 1 and 10000')).not.toBeInTheDocument();
  await user.click(screen.getByLabelText('TLS skip verify'));

  expect(last().jsonData).toEqual({
    mqttUrl: 'mqtts://broker:8883',
    mqttUsername: 'grafana',
    websocketMaxConnections: 5,
    tlsSkipVerify: true,
  });
  // Clearing a field removes its key.
  await user.clear(mqtt.getByLabelText('Username'));
  expect(last().jsonData).not.toHaveProperty('mqttUsername');
});

test('a configured secret shows as configured with Reset, is never echoed, and Reset follows Grafana’s pattern', async () => {
  const { user, last, view } = setup(
    settings({ jsonData: { mqttUsername: 'grafana' }, secureJsonFields: { mqttPassword: true } })
  );
  const mqtt = within(screen.getByText('MQTT', { selector: 'legend' }).parentElement!);
  const password = mqtt.getByLabelText('Password');
  expect(password).toHaveValue('configured');
  expect(password).toBeDisabled();
  expect(view.container.innerHTML).not.toContain('hunter2');
  await user.click(within(fieldOf('Password', mqtt)).getByRole('button', { name: 'Reset' }));
  expect(last().secureJsonFields).toEqual({ mqttPassword: false });
  expect(last().secureJsonData).toEqual({ mqttPassword: '' });

  await user.type(mqtt.getByLabelText('Password'), 'hunter2');
  expect(last().secureJsonData).toEqual({ mqttPassword: 'hunter2' });
  expect(last().jsonData).toEqual({ mqttUsername: 'grafana' });
});

test('a new secret is typed into an empty field; the CA certificate has a text area', async () => {
  const { user, last } = setup(settings());
  expect(screen.getByLabelText('TLS CA cert').tagName).toBe('TEXTAREA');
  await user.type(screen.getByLabelText('TLS CA cert'), '-----BEGIN CERTIFICATE-----');
  expect(last().secureJsonData).toEqual({ tlsCACert: '-----BEGIN CERTIFICATE-----' });
});

test('configured headers show; Add adds rows up to the schema’s 16; a removed header resets its secret', async () => {
  const { user, last } = setup(
    settings({
      jsonData: { httpHeaderName1: 'Authorization', httpHeaderName3: 'X-Org' },
      secureJsonFields: { httpHeaderValue1: true, httpHeaderValue3: true },
    })
  );
  expect(screen.getByLabelText('HTTP header 1 name')).toHaveValue('Authorization');
  expect(screen.getByLabelText('HTTP header 1 value')).toHaveValue('configured');
  expect(screen.getByLabelText('HTTP header 3 name')).toHaveValue('X-Org');
  expect(screen.queryByLabelText('HTTP header 2 name')).not.toBeInTheDocument();

  const add = screen.getByRole('button', { name: /Add HTTP header/ });
  await user.click(add);
  await user.type(screen.getByLabelText('HTTP header 2 name'), 'X-Tenant');
  await user.type(screen.getByLabelText('HTTP header 2 value'), 't-42');
  expect(last().jsonData).toEqual({
    httpHeaderName1: 'Authorization',
    httpHeaderName2: 'X-Tenant',
    httpHeaderName3: 'X-Org',
  });
  expect(last().secureJsonData).toEqual({ httpHeaderValue2: 't-42' });

  for (let i = 0; i < 13; i++) {
    await user.click(add);
  }
  expect(screen.getByLabelText('HTTP header 16 name')).toBeInTheDocument();
  expect(add).toBeDisabled();

  await user.click(screen.getByRole('button', { name: 'Remove HTTP header 1' }));
  expect(last().jsonData).not.toHaveProperty('httpHeaderName1');
  expect(last().secureJsonFields).toEqual({ httpHeaderValue1: false, httpHeaderValue3: true });
  expect(last().secureJsonData).toEqual({ httpHeaderValue1: '', httpHeaderValue2: 't-42' });
  expect(add).toBeEnabled();
});

test('a header name longer than the schema allows is flagged', async () => {
  const { user } = setup(settings());
  await user.click(screen.getByRole('button', { name: /Add HTTP header/ }));
  const name = screen.getByLabelText('HTTP header 1 name');
  await user.click(name);
  await user.paste('x'.repeat(257));
  expect(screen.getByText('At most 256 characters')).toBeInTheDocument();
});
