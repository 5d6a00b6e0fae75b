/*
 * Stand-ins for what Grafana hands a plugin module: @grafana/data's DataSourcePlugin,
 * @grafana/runtime's DataSourceWithBackend and template service, and @grafana/ui components that
 * render plain HTML elements. Each records what it receives. Runs in node and in the browser.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.Standins = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** @grafana/data: GrafanaPlugin / DataSourcePlugin as far as a data source plugin uses them. */
  function createData() {
    const created = [];
    class DataSourcePlugin {
      constructor(DataSourceClass) {
        this.DataSourceClass = DataSourceClass;
        this.components = {};
        created.push(this);
      }
      setConfigEditor(component) {
        this.components.ConfigEditor = component;
        return this;
      }
      setQueryEditor(component) {
        this.components.QueryEditor = component;
        return this;
      }
    }
    return { DataSourcePlugin, created };
  }

  /**
   * @grafana/runtime: DataSourceWithBackend keeps its settings as DataSourceApi does; the template
   * service replaces $name, ${name} and [[name]] from scopedVars first, then from `variables`.
   */
  function createRuntime(variables) {
    const replaceCalls = [];
    const globals = variables || {};
    const templateSrv = {
      replace(target, scopedVars) {
        replaceCalls.push({ target, scopedVars });
        if (typeof target !== 'string') {
          return target;
        }
        return target.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (match, a, b, c) => {
          const name = a || b || c;
          if (scopedVars && scopedVars[name]) {
            return String(scopedVars[name].value);
          }
          if (Object.prototype.hasOwnProperty.call(globals, name)) {
            return String(globals[name]);
          }
          return match;
        });
      },
    };
    class DataSourceWithBackend {
      constructor(instanceSettings) {
        this.instanceSettings = instanceSettings;
        this.name = instanceSettings && instanceSettings.name;
        this.uid = instanceSettings && instanceSettings.uid;
        this.type = instanceSettings && instanceSettings.type;
      }
      applyTemplateVariables(query) {
        return query;
      }
    }
    return { DataSourceWithBackend, getTemplateSrv: () => templateSrv, replaceCalls };
  }

  /** @grafana/ui: the components module.js uses, as plain elements; `received` logs every render. */
  function createUi(React) {
    const h = React.createElement;
    const received = [];
    const component = (name, render) => {
      const C = (props) => {
        received.push({ name, props });
        return render(props);
      };
      C.displayName = name;
      return C;
    };
    const strip = (props, keys) => {
      const out = {};
      for (const k of Object.keys(props)) {
        if (!keys.includes(k)) out[k] = props[k];
      }
      return out;
    };
    const INPUT_ONLY = ['width', 'invalid', 'prefix', 'suffix', 'loading', 'addonBefore', 'addonAfter', 'grow'];

    const ui = {
      InlineFieldRow: component('InlineFieldRow', (p) => h('div', { className: 'sf-row' }, p.children)),
      InlineField: component('InlineField', (p) =>
        h(
          'div',
          { className: 'sf-field', 'data-invalid': p.invalid ? 'true' : 'false' },
          h('label', { htmlFor: p.htmlFor, title: p.tooltip }, p.label),
          p.children,
          p.invalid && p.error ? h('span', { className: 'sf-error' }, p.error) : null
        )
      ),
      FieldSet: component('FieldSet', (p) => h('fieldset', { className: 'sf-fieldset' }, h('legend', null, p.label), p.children)),
      Input: component('Input', (p) => h('input', strip(p, INPUT_ONLY))),
      Select: component('Select', (p) => {
        const options = p.options || [];
        const current = p.value && typeof p.value === 'object' ? p.value.value : p.value;
        return h(
          'select',
          {
            id: p.inputId,
            value: current === undefined ? '' : String(current),
            onChange: (e) => {
              const picked = options.find((o) => String(o.value) === e.currentTarget.value);
              p.onChange(picked);
            },
          },
          options.map((o) => h('option', { key: String(o.value), value: String(o.value), title: o.description }, o.label))
        );
      }),
      InlineSwitch: component('InlineSwitch', (p) =>
        h('input', { type: 'checkbox', id: p.id, checked: !!p.value, disabled: p.disabled, onChange: p.onChange })
      ),
      SecretInput: component('SecretInput', (p) => {
        const rest = strip(p, INPUT_ONLY.concat(['isConfigured', 'onReset']));
        if (p.isConfigured) {
          return h(
            'span',
            { className: 'sf-secret' },
            h('input', Object.assign({}, rest, { type: 'text', disabled: true, readOnly: true, value: 'configured', onChange: undefined })),
            h('button', { type: 'button', onClick: p.onReset }, 'Reset')
          );
        }
        return h('input', Object.assign({}, rest, { type: 'password' }));
      }),
      SecretTextArea: component('SecretTextArea', (p) => {
        const rest = strip(p, ['isConfigured', 'onReset', 'grow', 'width']);
        if (p.isConfigured) {
          return h(
            'span',
            { className: 'sf-secret' },
            h('textarea', Object.assign({}, rest, { rows: 1, disabled: true, readOnly: true, value: 'configured', onChange: undefined })),
            h('button', { type: 'button', onClick: p.onReset }, 'Reset')
          );
        }
        return h('textarea', rest);
      }),
      TagsInput: component('TagsInput', (p) => {
        const [draft, setDraft] = React.useState('');
        const tags = p.tags || [];
        return h(
          'div',
          { className: 'sf-tags' },
          tags.map((tag) =>
            h(
              'span',
              { key: tag, className: 'sf-tag' },
              tag,
              h('button', { type: 'button', 'aria-label': 'Remove ' + tag, onClick: () => p.onChange(tags.filter((t) => t !== tag)) }, '×')
            )
          ),
          h('input', {
            id: p.id,
            placeholder: p.placeholder,
            value: draft,
            onChange: (e) => setDraft(e.currentTarget.value),
            onKeyDown: (e) => {
              if (e.key === 'Enter' && draft !== '') {
                e.preventDefault();
                if (!tags.includes(draft)) p.onChange(tags.concat(draft));
                setDraft('');
              }
            },
          })
        );
      }),
      Alert: component('Alert', (p) => h('div', { role: 'alert', 'data-severity': p.severity }, p.title, p.children)),
    };
    return { ui, received };
  }

  return { createData, createRuntime, createUi };
});
