/*
 * A small AMD loader, enough for module.js as Grafana loads it: `define(deps, factory)` (also named,
 * also with 'require' / 'exports' / 'module'), host modules provided by name, and `load` of one
 * module's source. The same file runs in node (CommonJS) and in the browser (window.MiniAmd).
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.MiniAmd = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  function createLoader() {
    const provided = new Map(); // name -> exports of a host module (what Grafana shares)
    const defined = new Map(); // name -> { deps, factory } of a module that defined itself
    const instances = new Map(); // name -> exports, once its factory ran
    const calls = []; // every define call, for the tests
    let anonymous = null;

    function define(name, deps, factory) {
      if (typeof name !== 'string') {
        factory = deps;
        deps = name;
        name = null;
      }
      if (!Array.isArray(deps)) {
        factory = deps;
        deps = ['require', 'exports', 'module'];
      }
      const entry = { deps: deps, factory: factory };
      calls.push({ name: name, deps: deps.slice() });
      if (name) {
        defined.set(name, entry);
      } else {
        if (anonymous) {
          throw new Error('two anonymous define() calls in one load');
        }
        anonymous = entry;
      }
    }
    define.amd = {};

    function provide(name, exports) {
      provided.set(name, exports);
    }

    /** Takes the anonymous define() made while `name`'s source ran and files it under `name`. */
    function claim(name) {
      if (!anonymous) {
        throw new Error(name + ' did not call define()');
      }
      defined.set(name, anonymous);
      anonymous = null;
    }

    function require(name) {
      if (provided.has(name)) {
        return provided.get(name);
      }
      if (instances.has(name)) {
        return instances.get(name);
      }
      const entry = defined.get(name);
      if (!entry) {
        throw new Error('AMD module not found: ' + name);
      }
      const module = { id: name, exports: {} };
      const args = entry.deps.map((dep) => {
        if (dep === 'require') return require;
        if (dep === 'exports') return module.exports;
        if (dep === 'module') return module;
        return require(dep);
      });
      const result = typeof entry.factory === 'function' ? entry.factory.apply(null, args) : entry.factory;
      const exports = result !== undefined ? result : module.exports;
      instances.set(name, exports);
      return exports;
    }

    /** Node: runs `source` with this loader's define in scope, then files it under `name`. */
    function evaluate(name, source, filename) {
      const vm = require_node('vm');
      const wrapper = vm.runInThisContext('(function (define) {' + source + '\n})', { filename: filename || name });
      wrapper(define);
      claim(name);
      return require(name);
    }

    /** Browser: loads `url` as a script with window.define set to this loader's define. */
    function loadScript(name, url) {
      return new Promise((resolve, reject) => {
        const previous = self.define;
        self.define = define;
        const script = document.createElement('script');
        script.src = url;
        script.onload = () => {
          self.define = previous;
          try {
            claim(name);
            resolve(require(name));
          } catch (err) {
            reject(err);
          }
        };
        script.onerror = () => {
          self.define = previous;
          reject(new Error('could not load ' + url));
        };
        document.head.appendChild(script);
      });
    }

    return { define: define, provide: provide, require: require, evaluate: evaluate, loadScript: loadScript, calls: calls };
  }

  function require_node(name) {
    // eslint-disable-next-line no-undef
    return typeof module === 'object' && module.require ? module.require(name) : null;
  }

  return { createLoader: createLoader };
});
