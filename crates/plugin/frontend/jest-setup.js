// Jest setup provided by Grafana scaffolding
import './.config/jest-setup';

// jsdom has no IntersectionObserver and no ResizeObserver; @grafana/ui's Select menu (its
// scroll indicators) and a few layouts use them. Browser APIs only: the Grafana packages are
// the real ones.
class NoopObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
  takeRecords() {
    return [];
  }
}
for (const name of ['IntersectionObserver', 'ResizeObserver']) {
  if (!(name in global)) {
    Object.defineProperty(global, name, { writable: true, configurable: true, value: NoopObserver });
  }
}
