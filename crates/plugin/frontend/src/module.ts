import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import type { RingstreamJsonData, RingstreamQuery, RingstreamSecureJsonData } from './types';

export const plugin = new DataSourcePlugin<DataSource, RingstreamQuery, RingstreamJsonData, RingstreamSecureJsonData>(
  DataSource
)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
