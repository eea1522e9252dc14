import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { approvalStatement } from '../../../src/core/restore/approval.js';
import { signStatement, statementRefusal } from '../../../src/crypto/statement.js';

const statement = approvalStatement({
  workflowId: 'restore-db-1',
  planDigest: 'ab'.repeat(32),
  by: 'alice',
  decision: 'approve',
});
let alice: { privateKey: string; publicKey: string };
let mallory: { privateKey: string; publicKey: string };

const key = (name: string, passphrase?: string) =>
  openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name }],
    passphrase,
    format: 'armored',
  });

beforeAll(async () => {
  [alice, mallory] = await Promise.all([key('alice', 'secret-words'), key('mallory')]);
});

describe('signed statements', () => {
  it("accepts the approver's own clearsigned statement, and a detached signature over it", async () => {
    const signed = await signStatement(statement, alice.privateKey, 'secret-words', '--sign-with: a.asc');
    expect(signed.replace(/\r\n/g, '\n')).toContain(statement.trimEnd());
    expect(await statementRefusal(statement, signed, alice.publicKey, 'a.asc')).toBeUndefined();
    const privateKey = await openpgp.decryptKey({
      privateKey: await openpgp.readPrivateKey({ armoredKey: alice.privateKey }),
      passphrase: 'secret-words',
    });
    const detached = await openpgp.sign({
      message: await openpgp.createMessage({ text: statement }),
      signingKeys: privateKey,
      detached: true,
    });
    expect(await statementRefusal(statement, detached, alice.publicKey, 'a.asc')).toBeUndefined();
  });

  it('refuses another key, another statement, garbage, and an unreadable approver key', async () => {
    const byMallory = await signStatement(statement, mallory.privateKey, undefined, 'm.asc');
    expect(await statementRefusal(statement, byMallory, alice.publicKey, 'a.asc')).toMatch(
      /not the approver's/,
    );
    const other = statement.replace('decision: approve', 'decision: reject');
    const signedOther = await signStatement(other, alice.privateKey, 'secret-words', 'a.asc');
    expect(await statementRefusal(statement, signedOther, alice.publicKey, 'a.asc')).toMatch(
      /signed text is not/,
    );
    expect(await statementRefusal(statement, 'hello', alice.publicKey, 'a.asc')).toMatch(
      /not the approver's/,
    );
    expect(await statementRefusal(statement, byMallory, 'nope', 'a.asc')).toBe(
      'RESTORE_APPROVER_KEYS: a.asc: not an armored OpenPGP public key',
    );
  });

  it('needs the passphrase of a protected key, and the right one', async () => {
    await expect(signStatement(statement, alice.privateKey, undefined, 'a.asc')).rejects.toThrow(
      /protected by a passphrase; set APPROVER_KEY_PASSPHRASE/,
    );
    await expect(signStatement(statement, alice.privateKey, 'wrong', 'a.asc')).rejects.toThrow(
      /APPROVER_KEY_PASSPHRASE does not unlock the key/,
    );
    await expect(signStatement(statement, alice.publicKey, undefined, 'a.asc')).rejects.toThrow(
      /not an armored OpenPGP secret key/,
    );
  });
});
