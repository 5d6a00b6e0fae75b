// Loads /module.js through the AMD loader with real React and @grafana/ui stand-ins, renders both
// editors as Grafana would (controlled: each onChange result is fed back as props) and records
// every object they hand out in window.__rs for the test to read.
(function () {
  'use strict';
  const h = React.createElement;
  const rs = (window.__rs = { ready: false, error: null, queries: [], settings: [], runs: 0 });

  const loader = MiniAmd.createLoader();
  loader.provide('@grafana/data', Standins.createData());
  loader.provide('@grafana/runtime', Standins.createRuntime({}));
  loader.provide('@grafana/ui', Standins.createUi(React).ui);
  loader.provide('react', React);

  loader
    .loadScript('ringstream', '/module.js')
    .then((exports) => {
      const plugin = exports.plugin;
      const ds = new plugin.DataSourceClass({
        name: 'Ringstream',
        uid: 'rs1',
        type: 'seed-ringstream-datasource',
        jsonData: { websocketUrl: 'wss://feed.example' },
      });

      function QueryHost() {
        const [query, setQuery] = React.useState(() => Object.assign({ refId: 'A' }, ds.getDefaultQuery('dashboard')));
        return h(plugin.components.QueryEditor, {
          query: query,
          datasource: ds,
          onChange: (q) => {
            rs.queries.push(q);
            setQuery(q);
          },
          onRunQuery: () => {
            rs.runs += 1;
          },
        });
      }

      function ConfigHost() {
        const [options, setOptions] = React.useState({
          id: 1,
          uid: 'rs1',
          name: 'Ringstream',
          type: 'seed-ringstream-datasource',
          jsonData: { mqttUrl: 'mqtt://old-broker:1883' },
          // Saved before: Grafana tells only that they are set, never their values.
          secureJsonFields: { mqttPassword: true },
        });
        return h(plugin.components.ConfigEditor, {
          options: options,
          onOptionsChange: (o) => {
            rs.settings.push(o);
            setOptions(o);
          },
        });
      }

      ReactDOM.createRoot(document.getElementById('query')).render(h(QueryHost));
      ReactDOM.createRoot(document.getElementById('config')).render(h(ConfigHost));
      rs.ready = true;
    })
    .catch((err) => {
      rs.error = String((err && err.stack) || err);
    });
})();
