export { backupWorkflow } from './backup.js';
export { retentionWorkflow } from './retention.js';
export { restoreWorkflow } from './restore.js';
export { drillWorkflow } from './drill.js';
export { rereadWorkflow } from './reread.js';
export { rekeyWorkflow } from './rekey.js';
export { pitrRestoreWorkflow } from './pitr-restore.js';
export { pitrDrillWorkflow } from './pitr-drill.js';
