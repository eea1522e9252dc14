import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort } from './ports.js';

export interface PasswordCluster {
  port: number;
  user: string;
  password: string;
  /** pg_ctl restart -m fast: every session is ended at once, as a PostgreSQL restart or failover ends them. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The machine's PostgreSQL trusts local connections, so a wrong password would pass. This starts a
 * throwaway cluster of the same version with scram-sha-256 authentication, run as the postgres user.
 */
export async function startPasswordCluster(password = 'right-password-for-test'): Promise<PasswordCluster> {
  const port = await freePort();
  const { stdout } = await execa('pg_config', ['--bindir']);
  const bin = stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'pgpw-'));
  chmodSync(dir, 0o755);
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, password);
  const data = join(dir, 'data');
  const { stdout: ids } = await execa('id', ['-u', 'postgres']);
  const { stdout: gids } = await execa('id', ['-g', 'postgres']);
  chownSync(dir, Number(ids), Number(gids));
  chownSync(pwfile, Number(ids), Number(gids));
  const asPostgres = (command: string, args: string[]) =>
    execa('runuser', ['-u', 'postgres', '--', join(bin, command), ...args]);
  await asPostgres('initdb', ['-D', data, '-A', 'scram-sha-256', '-U', 'postgres', `--pwfile=${pwfile}`]);
  await asPostgres('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    'start',
  ]);
  return {
    port,
    user: 'postgres',
    password,
    restart: async () => {
      // restart starts the server again with the options of the last start (postmaster.opts).
      await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-m', 'fast', 'restart']);
    },
    stop: async () => {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    },
  };
}
