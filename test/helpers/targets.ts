import { expect } from 'vitest';
import { seedDatabase, tableFingerprints } from './postgres.js';
import { uniqueName } from './services.js';

/** The target databases a restore test file makes: each new name is kept, for its afterAll to drop. */
export function restoreTargets(prefix: string) {
  const names: string[] = [];
  const newTarget = () => {
    const name = uniqueName(prefix);
    names.push(name);
    return name;
  };
  /** A target that already holds data, and a check that it still holds exactly that. */
  async function seededTarget(rows = 100) {
    const name = newTarget();
    await seedDatabase(name, rows);
    const before = await tableFingerprints(name);
    return {
      name,
      before,
      expectUnchanged: async () => expect(await tableFingerprints(name)).toEqual(before),
    };
  }
  return { names, newTarget, seededTarget };
}
