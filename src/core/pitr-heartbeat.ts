// The heartbeat table the worker writes every minute when PITR=pgbackrest: the PITR drill reads
// `beat` in the recovered scratch server, and the newest beat recovered is the achieved RPO's end.
// Shared by the writer (src/pitr/heartbeat.ts) and the drill; the table is
// durable_backup.heartbeat(id int primary key default 1, beat timestamptz not null), one row.
export const HEARTBEAT_SCHEMA = 'durable_backup';
export const HEARTBEAT_TABLE = 'heartbeat';
