import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { restoreTrustPolicy } from '../../../src/restore/source.js';

const base = { DB_NAME: 'app', BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE! };
const request = { source: { latest: true as const }, allowUnsigned: true };

describe('restoreTrustPolicy', () => {
  it('refuses --allow-unsigned on a production worker, as NotPermitted (exit 3), before anything is read', async () => {
    const production = loadConfig({
      env: { ...base, BACKUP_ENV: 'production', GPG_RECIPIENT: 'a@b', DB_SSLMODE: 'require' },
    });
    await expect(restoreTrustPolicy(production, request)).rejects.toMatchObject({
      kind: 'NotPermitted',
      message: '--allow-unsigned: a production worker restores signed backups only',
    });
    expect((await restoreTrustPolicy(production, { source: request.source })).allowUnsigned).toBe(false);
  });

  it('lets a development worker accept unsigned backups when asked, and only then', async () => {
    const development = loadConfig({ env: base });
    expect((await restoreTrustPolicy(development, request)).allowUnsigned).toBe(true);
    expect((await restoreTrustPolicy(development, { source: request.source })).allowUnsigned).toBe(false);
  });
});
