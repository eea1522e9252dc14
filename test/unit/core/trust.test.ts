import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MS, judgeBackup, untrustedError, type TrustFacts } from '../../../src/core/trust.js';

const SIGNER = 'A'.repeat(40);
const now = new Date('2026-12-07T02:10:00Z');
const facts: TrustFacts = {
  manifest: {
    createdAt: '2026-12-07T02:00:00.000Z',
    file: {
      name: 'app-backup-20261207-020000.dump.gpg',
      key: 'app-backup-20261207-020000.dump.gpg',
      bytes: 900,
      sha256: 'x',
    },
    encryption: { method: 'openpgp', recipients: ['B'.repeat(40)] },
  },
  signature: { state: 'valid', fingerprint: SIGNER },
  archive: { size: 900 },
  now,
  policy: { trusted: [SIGNER], encryptionConfigured: true, allowUnsigned: false },
};
const reason = (changes: Partial<TrustFacts>) => {
  const verdict = judgeBackup({ ...facts, ...changes });
  return verdict.trusted ? 'trusted' : verdict.reason;
};

describe('judgeBackup', () => {
  it('trusts a backup signed by a trusted key that agrees with its object', () => {
    expect(judgeBackup(facts)).toEqual({ trusted: true, signer: SIGNER });
  });

  it('refuses an unsigned backup unless --allow-unsigned, and then names no signer', () => {
    expect(reason({ signature: { state: 'unsigned' } })).toBe('unsigned');
    const allowed = { ...facts.policy, allowUnsigned: true };
    expect(judgeBackup({ ...facts, signature: { state: 'unsigned' }, policy: allowed })).toEqual({
      trusted: true,
    });
  });

  it('never lets --allow-unsigned accept a bad signature or an unknown signer', () => {
    const policy = { ...facts.policy, allowUnsigned: true };
    expect(reason({ signature: { state: 'bad', detail: 'changed' }, policy })).toBe(
      'bad signature (changed)',
    );
    const other = 'C'.repeat(40);
    expect(reason({ signature: { state: 'valid', fingerprint: other }, policy })).toBe(
      `unknown signer ${other}`,
    );
  });

  it('with no trust anchor, trusts no signature', () => {
    const policy = { ...facts.policy, trusted: [] };
    expect(reason({ policy })).toBe(`unknown signer ${SIGNER}`);
  });

  it('refuses a manifest its object contradicts, or that is missing', () => {
    expect(reason({ archive: { size: 901 } })).toBe(
      'manifest and object disagree (901 bytes, the manifest says 900)',
    );
    expect(reason({ archive: undefined })).toBe(
      'manifest and object disagree (no object, the manifest says 900)',
    );
  });

  it('allows a clock skew of 5 minutes, not more', () => {
    const at = (ms: number) => ({
      manifest: { ...facts.manifest, createdAt: new Date(now.getTime() + ms).toISOString() },
    });
    expect(reason(at(CLOCK_SKEW_MS))).toBe('trusted');
    expect(reason(at(CLOCK_SKEW_MS + 1000))).toMatch(/^dated in the future \(/);
    expect(reason({ manifest: { ...facts.manifest, createdAt: 'not a date' } })).toMatch(
      /^dated in the future/,
    );
  });

  it('refuses an unencrypted backup where keys are configured, accepts it where none are', () => {
    const plain = {
      manifest: { ...facts.manifest, encryption: { method: 'none' as const, recipients: [] } },
    };
    expect(reason(plain)).toBe('not encrypted while keys are configured');
    expect(reason({ ...plain, policy: { ...facts.policy, encryptionConfigured: false } })).toBe('trusted');
  });

  it('names the object and the reason, exit code 4, not retried', () => {
    const error = untrustedError('s3://bucket/app-backup-20991231-235959.dump', 'unsigned');
    expect(error).toMatchObject({
      kind: 'Untrusted',
      retryable: false,
      message: 's3://bucket/app-backup-20991231-235959.dump: not trusted: unsigned',
    });
    expect(error.hint).toMatch(/BACKUP_TRUSTED_SIGNERS.*docs\/security\.md/);
  });
});
