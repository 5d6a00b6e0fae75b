import type { DataSourceJsonData, DataSourceSettings } from '@grafana/data';

/** The plugin id, as plugin.json declares it (a test checks that they agree). */
export const PLUGIN_ID = 'seed-ringstream-datasource';

/**
 * A Ringstream data source's settings as Grafana's config page holds them, for the editor
 * tests (jest and the Chromium page): nothing configured but what `overrides` sets.
 */
export function dataSourceSettings<J extends DataSourceJsonData = DataSourceJsonData, S = unknown>(
  overrides: Partial<DataSourceSettings<J, S>> = {}
): DataSourceSettings<J, S> {
  return {
    id: 7,
    uid: 'rs1',
    orgId: 1,
    name: 'Ringstream',
    type: PLUGIN_ID,
    typeName: 'Ringstream',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData: {} as J,
    secureJsonFields: {},
    ...overrides,
  } as DataSourceSettings<J, S>;
}
