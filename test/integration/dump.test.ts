import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startDump } from '../../src/postgres/dump.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { eventually, processesMatching } from '../helpers/processes.js';
import { uniqueName } from '../helpers/services.js';

describe('pg_dump as it runs', () => {
  const database = uniqueName('argv');
  afterAll(() => dropDatabase(database));

  it('gets the password through its environment, never on its command line, and no other secret', async () => {
    await seedDatabase(database, 4000);
    const password = 'argv-secret-never-in-ps';
    // The worker's own environment holds other secrets: pg_dump has no business seeing them.
    process.env.S3_SECRET_KEY = 's3-secret-never-in-pg-dump';
    const db = loadConfig({
      env: { DB_NAME: database, DB_HOST: '127.0.0.1', DB_PASSWORD: password },
    }).database;
    const dump = await startDump(db, { compression: 0 });
    // Unread, the archive fills the pipe and pg_dump waits: it is there to be looked at.
    const running = await eventually(() =>
      processesMatching('pg_dump').filter((p) => p.environ.includes(`PGDATABASE=${database}`)),
    );
    expect(running).toHaveLength(1);
    expect(running[0]!.cmdline).not.toContain(password);
    expect(running[0]!.environ).toContain(`PGPASSWORD=${password}`);
    expect(running[0]!.environ).not.toContain(process.env.S3_SECRET_KEY);
    delete process.env.S3_SECRET_KEY;
    await dump.archive.toArray();
    expect((await dump.finished).tables.length).toBe(4);
  });

  it('keeps every byte when the archive is read late', async () => {
    const db = loadConfig({ env: { DB_NAME: database, DB_HOST: '127.0.0.1' } }).database;
    const dump = await startDump(db, { compression: 6 });
    // A reader that comes late (the upload's set-up can take seconds under load) must miss nothing;
    // this dump is small enough to be over by then if its bytes were not held for the reader.
    await new Promise((r) => setTimeout(r, 2_000));
    const archive = Buffer.concat(await dump.archive.toArray());
    await dump.finished;
    expect(archive.subarray(0, 5).toString()).toBe('PGDMP');
    const listed = await execa('pg_restore', ['--list'], { input: archive });
    expect(listed.stdout).toMatch(/TABLE DATA public users/);
  });
});
