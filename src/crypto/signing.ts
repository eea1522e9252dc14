import { readFileSync, statSync } from 'node:fs';
import * as openpgp from 'openpgp';
import type { Config } from '../config/index.js';
import { readTextFile } from '../config/index.js';
import { configError } from '../core/errors.js';
import { serializeManifest, type Manifest } from '../core/manifest.js';
import { judgeBackup, type SignatureCheck, type TrustPolicy, type Verdict } from '../core/trust.js';
import { readPrivateKeys } from './open.js';
import { armoredKeyBlocks, messageOf, readPublicKeys } from './seal.js';

// Signed backups, the OpenPGP side: the backup host signs each manifest's exact bytes with a key that
// signs and cannot decrypt (BACKUP_SIGNING_KEY_FILE); every reader checks the detached signature and
// which key made it, and src/core/trust.ts decides. `gpg --verify` checks the same signature.

export interface SigningKey {
  fingerprint: string;
  /** Armored, recorded in every manifest it signs (part of the signed bytes). */
  publicKey: string;
  privateKey: openpgp.PrivateKey;
}

const FINGERPRINT = /^[0-9A-F]{40}$/;

/** BACKUP_SIGNING_KEY_FILE, unlocked; undefined when not set. Refuses a key that could decrypt. */
export async function loadSigningKey(config: Config): Promise<SigningKey | undefined> {
  const { keyFile, passphrase } = config.signing;
  if (!keyFile) return undefined;
  const armored = readTextFile(keyFile, 'BACKUP_SIGNING_KEY_FILE');
  const keys = await readPrivateKeys(
    armored,
    passphrase,
    'BACKUP_SIGNING_KEY_FILE',
    'BACKUP_SIGNING_PASSPHRASE',
  );
  if (keys.length !== 1) {
    throw configError(`BACKUP_SIGNING_KEY_FILE: holds ${keys.length} keys; give exactly one signing key`);
  }
  const privateKey = keys[0]!;
  const fingerprint = privateKey.getFingerprint().toUpperCase();
  if (await privateKey.getEncryptionKey().then(Boolean, () => false)) {
    throw configError(
      `BACKUP_SIGNING_KEY_FILE: the key ${fingerprint} can decrypt; the signing key must sign only (gpg --quick-gen-key NAME ed25519 sign never)`,
    );
  }
  try {
    await privateKey.getSigningKey();
  } catch {
    throw configError(
      `BACKUP_SIGNING_KEY_FILE: the key ${fingerprint} cannot sign (expired, revoked or no signing capability)`,
    );
  }
  return { fingerprint, publicKey: privateKey.toPublic().armor(), privateKey };
}

/** The manifest as written, with its signer, and the detached armored signature of those exact bytes. */
export async function signedManifest(
  manifest: Manifest,
  key: SigningKey | undefined,
): Promise<{ text: string; signature?: string }> {
  // JSON leaves an undefined field out: an unsigned manifest names no signer.
  if (!key) return { text: serializeManifest({ ...manifest, signer: undefined }) };
  const text = serializeManifest({
    ...manifest,
    signer: { fingerprint: key.fingerprint, publicKey: key.publicKey },
  });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
  const signature = await openpgp.sign({ message, signingKeys: key.privateKey, detached: true });
  return { text, signature };
}

/**
 * Whether the signature is good, and by which key: the key recorded in the manifest, whose
 * fingerprint must be the one the manifest names. Whether that key is trusted is judgeBackup's call.
 */
export async function checkManifestSignature(
  manifestText: string,
  signatureText: string | undefined,
  signer: Manifest['signer'],
): Promise<SignatureCheck> {
  if (!signatureText && !signer) return { state: 'unsigned' };
  if (!signatureText)
    return { state: 'bad', detail: 'the manifest names a signer, its signature is missing' };
  if (!signer?.publicKey) return { state: 'bad', detail: 'the manifest names no signer' };
  try {
    const key = await openpgp.readKey({ armoredKey: signer.publicKey });
    const fingerprint = key.getFingerprint().toUpperCase();
    if (fingerprint !== String(signer.fingerprint).toUpperCase()) {
      return {
        state: 'bad',
        detail: `the manifest's key is ${fingerprint}, not ${String(signer.fingerprint)}`,
      };
    }
    const { signatures } = await openpgp.verify({
      message: await openpgp.createMessage({ binary: new TextEncoder().encode(manifestText) }),
      signature: await openpgp.readSignature({ armoredSignature: signatureText }),
      verificationKeys: key,
      format: 'binary',
    });
    if (signatures.length === 0) return { state: 'bad', detail: 'no signature in the .sig file' };
    for (const { verified } of signatures) await verified;
    return { state: 'valid', fingerprint };
  } catch (error) {
    return { state: 'bad', detail: messageOf(error).replace(/^Error: /, '') };
  }
}

/**
 * The worker's trust: BACKUP_TRUSTED_SIGNERS (fingerprints, or files of armored public keys), else its
 * own signing key; with no anchor at all, nothing signed is trusted and unsigned backups only with
 * --allow-unsigned.
 */
export async function trustPolicyOf(
  config: Config,
  options: { allowUnsigned?: boolean } = {},
): Promise<TrustPolicy> {
  const trusted = config.signing.trustedSigners.length
    ? (await Promise.all(config.signing.trustedSigners.map(trustedEntry))).flat()
    : await ownFingerprint(config);
  return {
    trusted: [...new Set(trusted)],
    encryptionConfigured: Boolean(
      config.encryption.publicKeyFile || config.encryption.recipient || config.restore.privateKeyFile,
    ),
    allowUnsigned: Boolean(options.allowUnsigned),
  };
}

async function trustedEntry(entry: string): Promise<string[]> {
  const compact = entry.replace(/\s+/g, '').toUpperCase();
  if (FINGERPRINT.test(compact)) return [compact];
  const isFile = (() => {
    try {
      return statSync(entry).isFile();
    } catch {
      return false;
    }
  })();
  if (!isFile) {
    throw configError(`BACKUP_TRUSTED_SIGNERS: "${entry}" is neither a 40-hex fingerprint nor a key file`);
  }
  const keys = await readPublicKeys(readFileSync(entry, 'utf8'), `BACKUP_TRUSTED_SIGNERS: ${entry}`);
  return keys.map((key) => key.getFingerprint().toUpperCase());
}

/** The fingerprint of BACKUP_SIGNING_KEY_FILE, read without its passphrase. */
async function ownFingerprint(config: Config): Promise<string[]> {
  if (!config.signing.keyFile) return [];
  const armored = readTextFile(config.signing.keyFile, 'BACKUP_SIGNING_KEY_FILE');
  const [block] = armoredKeyBlocks(armored, 'PRIVATE');
  if (!block) throw configError('BACKUP_SIGNING_KEY_FILE: no armored OpenPGP private key found');
  try {
    return [(await openpgp.readPrivateKey({ armoredKey: block })).getFingerprint().toUpperCase()];
  } catch (error) {
    throw configError(`BACKUP_SIGNING_KEY_FILE: not a readable OpenPGP private key (${messageOf(error)})`);
  }
}

/** What a reader has of one stored copy: the manifest's exact text, its signature, and the archive's stat. */
export interface CopyToJudge {
  manifestText: string;
  signatureText?: string;
  manifest: Manifest;
  archive?: { size: number };
}

export async function judgeCopy(copy: CopyToJudge, policy: TrustPolicy, now = new Date()): Promise<Verdict> {
  const signature = await checkManifestSignature(copy.manifestText, copy.signatureText, copy.manifest.signer);
  return judgeBackup({ manifest: copy.manifest, signature, archive: copy.archive, now, policy });
}
