import {
  createDataFrame,
  CustomVariableSupport,
  FieldType,
  type DataQueryRequest,
  type DataQueryResponse,
} from '@grafana/data';
import { from, map, type Observable } from 'rxjs';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import type { DataSource } from './datasource';
import { SOURCES } from './schema';
import type { TopicVariableQuery } from './types';

/** The sources a topic variable may ask about: those that read a connection. */
/**
 * How many names a variable asks for: the backend's most per `topics` call (its MAX_TOPICS,
 * crates/plugin/src/resource.rs; a larger limit is an HTTP 400). The schema does not carry it.
 */
const VARIABLE_LIMIT = 500;

export const VARIABLE_SOURCES = SOURCES.filter((s) => s.needsConnection);

/**
 * Query variables (Dashboard settings → Variables → Query, this data source): the names the
 * `topics` resource lists for a source and filter, e.g. every `plant/+/temperature` topic seen
 * on the data source's MQTT connection, as the variable's values.
 */
export class TopicVariableSupport extends CustomVariableSupport<DataSource, TopicVariableQuery> {
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  query(request: DataQueryRequest<TopicVariableQuery>): Observable<DataQueryResponse> {
    const target = request.targets[0] ?? { refId: 'variable' };
    const source = target.source ?? VARIABLE_SOURCES[0]?.value ?? '';
    return from(this.datasource.topics(source, target.filter ?? '', target.limit ?? VARIABLE_LIMIT)).pipe(
      map((answer) => ({
        data: [
          createDataFrame({
            refId: target.refId,
            fields: [{ name: 'text', type: FieldType.string, values: answer?.topics ?? [] }],
          }),
        ],
      }))
    );
  }
}
