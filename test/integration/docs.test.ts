import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE_KINDS, scheduleId } from '../../src/schedules/index.js';
import { fencedBlocks, refusedBlocks, runShBlocks, shimDir } from '../helpers/docs.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { seedDatabase, withClient, dropDatabase } from '../helpers/postgres.js';
import { REPO_ROOT, uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Issue #6: every shell example in docs/ runs, against the real services, so the manual cannot
// drift from the program. One test per docs file; its `sh` blocks run in one bash, in order, with a
// seeded database (DB_NAME), a test key, a worker on a task queue of the file's own, `backupctl`
// and the stand-ins of test/helpers/docs.ts on PATH. Databases whose names start with DB_NAME and
// the schedules of DB_NAME are removed after each file. Two files run at a time (maxConcurrency):
// nothing of one is the other's, and most of their time is spent waiting on the services.

const DOCS = join(REPO_ROOT, 'docs');
const FILES = readdirSync(DOCS)
  .filter((f) => f.endsWith('.md'))
  .sort();
const LIMIT_MS = 5 * 60_000;

let keyring: TestKeyring;
let passphraseFile: string;
let bin: string;

beforeAll(async () => {
  keyring = await createKeyring('default', 'docs-passphrase-4f1a');
  passphraseFile = join(keyring.home, 'passphrase');
  writeFileSync(passphraseFile, 'docs-passphrase-4f1a', { mode: 0o600 });
  bin = shimDir();
});

describe('docs: every shell example runs', () => {
  it.concurrent.each(FILES)(
    'docs/%s',
    async (name) => {
      const blocks = fencedBlocks(readFileSync(join(DOCS, name), 'utf8'));
      expect(refusedBlocks(blocks).map((r) => `docs/${name}:${r.block.line}: ${r.why}`)).toEqual([]);
      const sh = blocks.filter((b) => b.lang === 'sh');
      if (sh.length === 0) return;

      const database = uniqueName('docs');
      await seedDatabase(database, 200);
      const worker = await startTestWorker('docs', {
        DB_NAME: database,
        GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
        GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
        GPG_PASSPHRASE_FILE: passphraseFile,
      });
      try {
        const env = {
          ...worker.env,
          REPO: REPO_ROOT.replace(/\/$/, ''),
          PATH: `${bin}:${process.env.PATH}`,
          TMPDIR: process.env.TMPDIR ?? '/tmp',
          LANG: 'C.UTF-8',
        };
        const run = await runShBlocks(`docs/${name}`, sh, env, LIMIT_MS);
        // On failure: the failing block, and what it printed.
        expect(run.report).toBe('');
      } finally {
        await cleanUp(worker, database);
      }
    },
    LIMIT_MS + 60_000,
  );
});

// Issue #19: after the quickstart, the README's "Using it" commands must work in a new shell. They
// run in a bash that gets no PATH from us (so bash's own default, as `env -i bash -c` has), with
// only the settings a user would load, after what scripts/setup.sh does to put the commands there,
// into the run's private /usr/local/bin.
describe('README: the commands of "Using it", in a new shell', () => {
  it(
    'run from a bash whose PATH is its own, found where setup put them',
    async () => {
      const blocks = fencedBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
      expect(refusedBlocks(blocks).map((r) => `README.md:${r.block.line}: ${r.why}`)).toEqual([]);
      const sh = blocks.filter((b) => b.lang === 'sh');
      expect(sh.map((b) => b.code).join('\n')).toMatch(/^backupctl /m);
      const setup = {
        lang: 'sh',
        line: 0,
        code: [
          'test "$PATH" = /usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:.',
          '! command -v backupctl',
          'bash "$REPO/scripts/link-commands.sh" >/dev/null',
          'test "$(command -v backupctl)" = /usr/local/bin/backupctl',
        ].join('\n'),
      };
      const database = uniqueName('readme');
      await seedDatabase(database, 50);
      const worker = await startTestWorker('readme', { DB_NAME: database });
      try {
        // No PATH: bash starts with its default one, as a new shell does.
        const env = { ...worker.env, REPO: REPO_ROOT.replace(/\/$/, ''), LANG: 'C.UTF-8' };
        const run = await runShBlocks('README.md', [setup, ...sh], env, LIMIT_MS);
        expect(run.report).toBe('');
      } finally {
        await cleanUp(worker, database);
      }
    },
    LIMIT_MS + 60_000,
  );
});

describe('the docs harness', () => {
  const env = () => ({
    PATH: `${bin}:${process.env.PATH}`,
    REPO: REPO_ROOT,
    TMPDIR: process.env.TMPDIR ?? '/tmp',
  });

  it('refuses shell blocks it would not run', () => {
    const md = '```bash\nls\n```\n```\n$ backupctl list\n```\n```\nok app/drill: fine\n```\n```sh\nls\n```\n';
    expect(refusedBlocks(fencedBlocks(md)).map((r) => r.block.line)).toEqual([1, 4]);
  });

  it('runs the stand-ins, keeps host folders private, and reports a failing block with its output', async () => {
    const blocks = fencedBlocks(
      [
        '```sh',
        'test "$(docker exec -i -e GREETING=hello db printenv GREETING)" = hello',
        'printf "services: {db: {image: x}}\\n" > compose.yaml && docker compose config -q',
        '! docker compose -f missing.yaml config 2> /dev/null',
        'sudo install -d /etc/durable-backup/keys && test -d /etc/durable-backup/keys',
        'sudo useradd --system --no-create-home docs-test-user && id docs-test-user',
        'touch /usr/local/bin/docs-test-command',
        'systemctl enable --now x.timer | grep -q stand-in',
        '```',
        '',
        '```sh',
        'echo "about to fail"',
        'false',
        '```',
      ].join('\n'),
    );
    const run = await runShBlocks('docs/example.md', blocks, env(), 60_000);
    expect(run.report).toMatch(
      /^docs\/example\.md:11: this sh block failed \(exit 1\):\necho "about to fail"\nfalse\n--- its output ---\nabout to fail$/,
    );
    expect(existsSync('/etc/durable-backup/keys')).toBe(false);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('docs-test-user');
    expect(existsSync('/usr/local/bin/docs-test-command')).toBe(false);
    const passing = await runShBlocks('docs/example.md', blocks.slice(0, 1), env(), 60_000);
    expect(passing).toEqual({ ok: true, report: '' });
  });
});

async function cleanUp(worker: TestWorker, database: string) {
  for (const kind of SCHEDULE_KINDS) {
    await worker.client.schedule
      .getHandle(scheduleId(kind, database))
      .delete()
      .catch(() => undefined);
  }
  await worker.stop();
  const made = await withClient('postgres', (c) =>
    c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [
      database,
    ]),
  );
  for (const { datname } of made.rows) await dropDatabase(datname);
}
