// Names shared by workflows, the worker and the client: one definition each.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';

export const BACKUP_WORKFLOW = 'backupWorkflow';
export const RETENTION_WORKFLOW = 'retentionWorkflow';

export const DATABASE_ATTRIBUTE = defineSearchAttributeKey('BackupDatabase', SearchAttributeType.KEYWORD);
export const KIND_ATTRIBUTE = defineSearchAttributeKey('BackupKind', SearchAttributeType.KEYWORD);
export const LABEL_ATTRIBUTE = defineSearchAttributeKey('BackupLabel', SearchAttributeType.KEYWORD);

export const BACKUP_STEPS = ['plan', 'dump', 'verify', 'encrypt', 'upload', 'manifest'] as const;
export type BackupStep = (typeof BACKUP_STEPS)[number];

export interface BackupProgress {
  step: BackupStep | 'done' | 'failed' | 'cleanup';
  completed: { step: BackupStep; durationMs?: number; detail: string }[];
  error?: string;
}

export const progressQuery = defineQuery<BackupProgress>('progress');
