import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { scratchDatabaseName } from '../../../src/core/drill.js';
import { BackupError } from '../../../src/core/errors.js';
import { checkForce, checkForcedTarget, targetDatabase } from '../../../src/restore/target.js';

const config = loadConfig({
  env: {
    DB_NAME: 'app',
    DB_HOST: 'db.internal',
    RESTORE_APPROVERS: 'alice',
    RESTORE_TARGET_HOSTS: 'replica:5433',
  },
});
const refusal = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return error as BackupError;
  }
  throw new Error('not refused');
};

describe('targetDatabase', () => {
  it('connects to DB_HOST:DB_PORT and to the hosts RESTORE_TARGET_HOSTS lists', () => {
    expect(targetDatabase(config, {})).toMatchObject({ host: 'db.internal', port: 5432, name: 'app' });
    expect(targetDatabase(config, { host: 'REPLICA', port: 5433, database: 'x' })).toMatchObject({
      host: 'REPLICA',
      port: 5433,
      name: 'x',
    });
  });

  it('refuses any other host or port, as NotPermitted (exit 3)', () => {
    for (const target of [{ host: 'evil.example' }, { host: 'replica' }, { port: 6543 }]) {
      const error = refusal(() => targetDatabase(config, target));
      expect(error.kind).toBe('NotPermitted');
      expect(error.message).toMatch(
        /is not a server this worker may connect to \(it allows db\.internal:5432, replica:5433\)$/,
      );
    }
  });
});

describe('checkForce', () => {
  const drillTarget = scratchDatabaseName('app', new Date('2026-12-07T04:00:00Z'), 'UTC', 'k3x9');

  it('refuses --force where RESTORE_ALLOW_FORCE is off, over the live database or a new one', () => {
    for (const request of [
      { source: { latest: true as const }, force: true },
      { source: { latest: true as const }, force: true, target: { database: 'copy' }, createDb: true },
      // A scratch-like name on another server, or into an existing database, is no drill's.
      {
        source: { latest: true as const },
        force: true,
        target: { database: drillTarget, host: 'replica' },
        createDb: true,
      },
      { source: { latest: true as const }, force: true, target: { database: drillTarget } },
      // A drill-like name of another database is not one of this database's drills.
      {
        source: { latest: true as const },
        force: true,
        target: { database: scratchDatabaseName('other', new Date(), 'UTC', 'k3x9') },
        createDb: true,
      },
    ]) {
      expect(refusal(() => checkForce(config, request)).kind).toBe('NotPermitted');
    }
  });

  it('refuses, at the plan, a forced restore into a database that exists, unless force is allowed', () => {
    const drill = {
      source: { latest: true as const },
      force: true,
      target: { database: drillTarget },
      createDb: true,
    };
    expect(refusal(() => checkForcedTarget(config, drill, true)).kind).toBe('NotPermitted');
    expect(() => checkForcedTarget(config, drill, false)).not.toThrow();
    const allowing = { ...config, restore: { ...config.restore, allowForce: true } };
    expect(() => checkForcedTarget(allowing, drill, true)).not.toThrow();
  });

  it("lets a drill's restore into its own new scratch database through, and anything where force is allowed", () => {
    const drill = {
      source: { latest: true as const },
      force: true,
      target: { database: drillTarget },
      createDb: true,
    };
    expect(() => checkForce(config, drill)).not.toThrow();
    const allowing = { ...config, restore: { ...config.restore, allowForce: true } };
    expect(() => checkForce(allowing, { source: { latest: true }, force: true })).not.toThrow();
    expect(() => checkForce(config, { source: { latest: true } })).not.toThrow();
  });
});
