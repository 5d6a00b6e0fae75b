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

// A test fails when anything logs an error or a warning (React warnings among them), as the
// Chromium test fails on a console error or warning of the page.
const logged = [];
beforeEach(() => {
  logged.length = 0;
  for (const level of ['error', 'warn']) {
    jest.spyOn(console, level).mockImplementation((...args) => {
      logged.push(`console.${level}: ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' ')}`);
    });
  }
});
afterEach(() => {
  jest.restoreAllMocks();
  if (logged.length > 0) {
    throw new Error(`the test logged:\n${logged.join('\n')}`);
  }
});

// The machines running CI are small and shared: give waitFor/findBy more than the default 1 s.
import { configure } from '@testing-library/react';
configure({ asyncUtilTimeout: 5000 });
