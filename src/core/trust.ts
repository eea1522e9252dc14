import { BackupError, damagedCopyHint } from './errors.js';
import { isEncrypted, type Manifest } from './manifest.js';

// Which backups a worker may read: the rule, pure. A backup is trusted when its manifest is signed
// by a key the worker trusts (BACKUP_TRUSTED_SIGNERS, or its own signing key), the archive beside it
// has the manifest's size, it is not dated in the future, and it is encrypted wherever the worker
// encrypts. The OpenPGP work (is the signature good, by which key) is src/crypto/signing.ts's.

/** A clock may be this far ahead of ours; a backup dated later than that was not written by us. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** The detached signature beside every signed manifest: `<manifest key>.sig`. */
export const SIGNATURE_SUFFIX = '.sig';

export function signatureKeyFor(manifestKey: string): string {
  return `${manifestKey}${SIGNATURE_SUFFIX}`;
}

export interface TrustPolicy {
  /** Upper-case 40-hex fingerprints whose signatures this worker accepts. */
  trusted: string[];
  /** The worker encrypts its backups (GPG_PUBLIC_KEY_FILE, GPG_RECIPIENT) or holds the key to open them. */
  encryptionConfigured: boolean;
  /** `restore --allow-unsigned`: an unsigned backup is accepted (never a bad or unknown signature). */
  allowUnsigned: boolean;
}

/** What the OpenPGP check found: no signature at all, a signature that does not verify, or a good one. */
export type SignatureCheck =
  { state: 'unsigned' } | { state: 'bad'; detail: string } | { state: 'valid'; fingerprint: string };

export type Verdict =
  | {
      trusted: true;
      /** Signed by this key; absent when accepted unsigned (--allow-unsigned). */ signer?: string;
    }
  | { trusted: false; reason: string };

export interface TrustFacts {
  manifest: Pick<Manifest, 'createdAt' | 'file' | 'encryption'>;
  signature: SignatureCheck;
  /** The archive object as the store reports it; undefined when it is missing. */
  archive?: { size: number };
  now: Date;
  policy: TrustPolicy;
}

/** Trusted, or the first reason not to be: the signature first, then what the manifest claims. */
export function judgeBackup({ manifest, signature, archive, now, policy }: TrustFacts): Verdict {
  if (signature.state === 'unsigned' && !policy.allowUnsigned) return refused('unsigned');
  if (signature.state === 'bad') return refused(`bad signature (${signature.detail})`);
  if (signature.state === 'valid' && !policy.trusted.includes(signature.fingerprint.toUpperCase())) {
    return refused(`unknown signer ${signature.fingerprint.toUpperCase()}`);
  }
  if (archive?.size !== manifest.file.bytes) {
    const found = archive ? `${archive.size} bytes` : 'no object';
    return refused(`${DISAGREE} (${found}, the manifest says ${manifest.file.bytes})`);
  }
  const created = Date.parse(manifest.createdAt);
  if (!Number.isFinite(created) || created > now.getTime() + CLOCK_SKEW_MS) {
    return refused(`dated in the future (${manifest.createdAt})`);
  }
  if (policy.encryptionConfigured && !isEncrypted(manifest)) {
    return refused('not encrypted while keys are configured');
  }
  return signature.state === 'valid' ? { trusted: true, signer: signature.fingerprint } : { trusted: true };
}

const refused = (reason: string): Verdict => ({ trusted: false, reason });
const DISAGREE = 'manifest and object disagree';

/** The error a reader throws for a backup it may not trust: it names the object and the reason. */
export function untrustedError(where: string, reason: string): BackupError {
  // A size that is not the manifest's is a damaged copy, not a signing matter: say where to look.
  const hint = reason.startsWith(DISAGREE) ? damagedCopyHint(!where.startsWith('s3://')) : undefined;
  return new BackupError('Untrusted', `${where}: not trusted: ${reason}`, { hint });
}
