/* [create-plugin] version: 7.1.7 */
/* A stand-in for crates/plugin/frontend/dist/module.js in xtask's own tests (which run without node): an AMD module of the shape create-plugin's webpack emits. */
define(["@grafana/data","@grafana/runtime"],(e,t)=>(()=>{"use strict";class r extends t.DataSourceWithBackend{}return{plugin:new e.DataSourcePlugin(r)}})());
//# sourceMappingURL=module.js.map
