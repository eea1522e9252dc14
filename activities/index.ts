export { createBackupActivities, type BackupActivities, type BackupDeps } from './backup.js';
