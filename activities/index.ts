export { createBackupActivities, type BackupActivities, type BackupDeps } from './backup.js';
export { createRetentionActivities, type RetentionActivities } from './retention.js';
export { createRestoreActivities, type RestoreActivities } from './restore.js';
export { createReportActivities, type ReportActivities, type ReportedRun } from './report.js';
export { createDrillActivities, type DrillActivities } from './drill.js';
export { createRereadActivities, type RereadActivities } from './reread.js';
export { createRekeyActivities, type RekeyActivities } from './rekey.js';
export { createPitrRestoreActivities, type PitrRestoreActivities } from './pitr-restore.js';
export { createPitrDrillActivities, type PitrDrillActivities } from './pitr-drill.js';
