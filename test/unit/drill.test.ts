import { describe, expect, it } from 'vitest';
import { scratchDatabaseName, withinTarget } from '../../src/core/drill.js';

describe('scratchDatabaseName', () => {
  const at = new Date('2024-03-15T04:00:07Z');

  it('is <DB_NAME>_drill_<YYYYMMDD_HHMMSS> in the backup time zone', () => {
    expect(scratchDatabaseName('app', at, 'UTC')).toBe('app_drill_20240315_040007');
    expect(scratchDatabaseName('app', at, 'Europe/Berlin')).toBe('app_drill_20240315_050007');
  });

  it('keeps letters, digits and underscores only', () => {
    expect(scratchDatabaseName('my-app "prod"', at, 'UTC')).toBe('my_app_prod__drill_20240315_040007');
  });

  it('fits in 63 bytes, so the server never cuts it down to DB_NAME', () => {
    const long = 'a'.repeat(63);
    const name = scratchDatabaseName(long, at, 'UTC');
    expect(name).toHaveLength(63);
    expect(name).not.toBe(long);
    expect(name.endsWith('_drill_20240315_040007')).toBe(true);
  });
});

describe('withinTarget', () => {
  it('needs a measured RTO at or under the target', () => {
    expect(withinTarget(1_000, 1_000)).toBe(true);
    expect(withinTarget(1_001, 1_000)).toBe(false);
    expect(withinTarget(undefined, 1_000)).toBe(false);
  });
});
