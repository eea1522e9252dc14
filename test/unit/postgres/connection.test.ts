import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { libpqVars, nodeSsl } from '../../../src/postgres/connection.js';

describe('libpqVars', () => {
  const db = {
    host: 'db',
    port: 5432,
    name: 'app',
    user: 'backup',
    password: 'pw',
    sslMode: 'require' as const,
  };

  it('passes DB_SSLMODE, the CA file and the refusal of a cleartext password to every tool', () => {
    expect(libpqVars({ ...db, sslRootCert: '/etc/ca.pem' }, 'durable-backup pg_dump')).toMatchObject({
      PGSSLMODE: 'require',
      PGSSLROOTCERT: '/etc/ca.pem',
      PGREQUIREAUTH: '!password',
      PGPASSWORD: 'pw',
    });
    expect(libpqVars(db, 'x')).not.toHaveProperty('PGSSLROOTCERT');
  });
});

describe('nodeSsl', () => {
  it('maps sslmode to node-postgres: no TLS below require, no check at require, checks above', () => {
    for (const mode of ['disable', 'allow', 'prefer'] as const) expect(nodeSsl(mode)).toBe(false);
    expect(nodeSsl('require')).toEqual({ rejectUnauthorized: false });
    expect(nodeSsl('verify-full')).toEqual({ rejectUnauthorized: true });
    expect(nodeSsl('verify-ca')).toMatchObject({ rejectUnauthorized: true });
  });
});

describe('the cleartext-password guard', () => {
  it('replaces a method node-postgres still has (an upgrade that renamed it would disarm the guard)', () => {
    const handler = (pg.Client.prototype as unknown as Record<string, unknown>)._handleAuthCleartextPassword;
    expect(typeof handler).toBe('function');
  });
});
