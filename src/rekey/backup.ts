import { rm } from 'node:fs/promises';
import type { Stores } from '../storage/index.js';
import { copiesOf, newFile } from './copies.js';
import type { RekeyItem } from './plan.js';
import { checkEncryptedTo } from './reencrypt.js';
import { swap } from './swap.js';
import type { RekeyWork } from './work.js';

// Key rotation (`backupctl rekey`): every retained backup re-encrypted to new recipients, under the same name. Per store,
// the new file goes first to a temporary key beside the old one (<key>.rekey) and is read back; the
// manifest then points at it; the new file replaces the old under the backup's own name (an atomic
// overwrite: a rename, or a completed upload), is read back, and the manifest points there again;
// the temporary copy goes last. At every instant the manifest names a complete object whose size and
// SHA-256 it records, and a stop anywhere leaves at worst a <key>.rekey the next run replaces.

export interface RekeyedBackup {
  key: string;
  bytes: number;
  sha256: string;
  recipients: string[];
  /** Whether this attempt decrypted and re-encrypted it (false: an earlier attempt's file was used). */
  reencrypted: boolean;
  locations: ('local' | 'remote')[];
}

/**
 * Rotates one backup in the stores the plan named (the bucket first, as the backup writes it). The
 * copies already done elsewhere count: they fix which new file the others get.
 */
export async function rekeyBackup(stores: Stores, item: RekeyItem, work: RekeyWork): Promise<RekeyedBackup> {
  const copies = await copiesOf(stores, item, work);
  const { file, reencrypted } = await newFile(copies, item, work);
  await checkEncryptedTo(file.path, work.recipients.encryptionKeyIDs);
  // The remote's record (its new ETag) goes into the local manifest too, as the backup writes it.
  let remoteRecord = copies.find((c) => c.location === 'remote')?.manifest.remote;
  for (const copy of copies.filter((c) => item.locations.includes(c.location))) {
    const manifest = await swap(copy, item, file, work, remoteRecord);
    if (copy.location === 'remote') remoteRecord = manifest.remote;
  }
  await rm(file.path, { force: true });
  await rm(`${file.path}.json`, { force: true });
  return {
    key: item.key,
    bytes: file.bytes,
    sha256: file.sha256,
    recipients: file.recipients,
    reencrypted,
    locations: item.locations,
  };
}
