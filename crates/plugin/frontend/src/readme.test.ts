import fs from 'fs';
import path from 'path';

import { SCHEMA_KEYS, SECTIONS } from './schema';

const readme = fs.readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');

test('the README describes every query key and every setting of the schemas', () => {
  for (const key of SCHEMA_KEYS) {
    expect(readme).toContain(`\`${key}\``);
  }
  for (const section of SECTIONS) {
    for (const setting of section.settings) {
      expect(readme).toContain(`\`${setting.store}.${setting.key}\``);
    }
    for (const repeat of section.repeats) {
      for (const column of repeat.columns) {
        expect(readme).toContain(`\`${column.store}.${column.prefix}1..${repeat.count}\``);
      }
    }
  }
});
