import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/services.js';

// The least-privilege policy in docs/security.md against what our S3 store really sends.

/** The IAM action each S3 command needs (AWS's API reference, "Permissions" of each operation). */
const IAM_ACTION: Record<string, string> = {
  HeadBucket: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  ListParts: 's3:ListMultipartUploadParts',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  DeleteObject: 's3:DeleteObject',
  RestoreObject: 's3:RestoreObject',
};

/** Every `new XCommand(` in the S3 driver (every file of src/storage/s3/). */
function commandsSent(): string[] {
  const folder = `${REPO_ROOT}src/storage/s3/`;
  const source = readdirSync(folder)
    .map((name) => readFileSync(folder + name, 'utf8'))
    .join('\n');
  return [...new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!))].sort();
}

interface Statement {
  Effect: string;
  Action: string | string[];
}

/** The Allow actions of the first JSON block after the heading "The bucket policy". */
function policyActions(): string[] {
  const doc = readFileSync(`${REPO_ROOT}docs/security.md`, 'utf8');
  const section = doc.slice(doc.indexOf('## The bucket policy'));
  const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  if (!json) throw new Error('no json block under "## The bucket policy" in docs/security.md');
  const policy = JSON.parse(json) as { Statement: Statement[] };
  return [
    ...new Set(policy.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat())),
  ].sort();
}

describe('the bucket policy in docs/security.md', () => {
  it('knows the IAM action of every S3 command the store sends', () => {
    expect(commandsSent().length).toBeGreaterThan(5);
    expect(commandsSent().filter((command) => !(command in IAM_ACTION))).toEqual([]);
  });

  it('allows exactly the actions those commands need', () => {
    const needed = [...new Set(commandsSent().map((command) => IAM_ACTION[command]!))].sort();
    expect(policyActions()).toEqual(needed);
  });
});
