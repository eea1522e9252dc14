import * as openpgp from 'openpgp';
import { configError } from '../core/errors.js';

// Signed approvals: an approver's OpenPGP signature over the statement of src/core/restore/approval.ts.
// The CLI signs (backupctl approve --sign-with); a restore worker checks it against the approver's
// public key (RESTORE_APPROVER_KEYS). gpg --clearsign and gpg --detach-sign --armor make signatures
// that check the same way.

const CLEARSIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';

/** Clearsigns a statement with an armored secret key (unlocked with the passphrase when protected). */
export async function signStatement(
  statement: string,
  armoredKey: string,
  passphrase: string | undefined,
  source: string,
): Promise<string> {
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey });
  } catch {
    throw configError(`${source}: not an armored OpenPGP secret key`);
  }
  if (!key.isDecrypted()) {
    if (passphrase === undefined) {
      throw configError(
        `${source}: the key is protected by a passphrase; set APPROVER_KEY_PASSPHRASE or APPROVER_KEY_PASSPHRASE_FILE`,
      );
    }
    try {
      key = await openpgp.decryptKey({ privateKey: key, passphrase });
    } catch {
      throw configError(`${source}: APPROVER_KEY_PASSPHRASE does not unlock the key`);
    }
  }
  const message = await openpgp.createCleartextMessage({ text: statement });
  return openpgp.sign({ message, signingKeys: key });
}

/**
 * Why a signature does not prove that the holder of `armoredPublicKey` signed exactly `statement`, or
 * undefined when it does. A clearsigned text must say the statement itself; a detached signature is
 * checked over it.
 */
export async function statementRefusal(
  statement: string,
  signature: string,
  armoredPublicKey: string,
  keyFile: string,
): Promise<string | undefined> {
  const verificationKeys = await openpgp.readKey({ armoredKey: armoredPublicKey }).catch(() => undefined);
  if (!verificationKeys) return `RESTORE_APPROVER_KEYS: ${keyFile}: not an armored OpenPGP public key`;
  try {
    if (signature.trimStart().startsWith(CLEARSIGNED)) {
      const message = await openpgp.readCleartextMessage({ cleartextMessage: signature.trim() });
      if (normalized(message.getText()) !== normalized(statement)) {
        return 'the signed text is not the statement of this restore, plan and decision (backupctl status ID --statement)';
      }
      const { signatures } = await openpgp.verify({ message, verificationKeys, expectSigned: true });
      await signatures[0]!.verified;
    } else {
      const { signatures } = await openpgp.verify({
        message: await openpgp.createMessage({ text: statement }),
        signature: await openpgp.readSignature({ armoredSignature: signature }),
        verificationKeys,
        expectSigned: true,
      });
      await signatures[0]!.verified;
    }
    return undefined;
  } catch {
    return "the signature is not the approver's over this restore, plan and decision";
  }
}

/** Clearsigned text ends its lines without trailing blanks, and gpg may add a final newline. */
function normalized(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trimEnd();
}
