export { backupWorkflow } from './backup.js';
export { retentionWorkflow } from './retention.js';
export { restoreWorkflow } from './restore.js';
