export { backupWorkflow } from './backup.js';
