import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { activeListLines, wholeTablesList } from '../../../../src/core/restore/toc.js';

// pg_restore --list and --schema-only of a database with a sequence, a comment, a foreign key, an
// index with a quoted name and a table in a schema with a space (test/fixtures).
const toc = readFileSync(new URL('../../../fixtures/tables.toc', import.meta.url), 'utf8');
const schemaSql = readFileSync(new URL('../../../fixtures/tables-schema.sql', import.meta.url), 'utf8');

describe('activeListLines', () => {
  it('keeps the entries and drops the header and the entries commented out', () => {
    const list = ['; Archive created at 2024-03-15', '3350; 0 16386 TABLE DATA public users postgres'];
    expect(activeListLines([...list, ';3351; 0 16390 TABLE DATA public images postgres'].join('\n'))).toEqual(
      [list[1]],
    );
    expect(activeListLines(toc)).toHaveLength(32);
  });
});

describe('wholeTablesList', () => {
  const kept = (tables: { schema: string; table: string }[]) =>
    wholeTablesList(toc, schemaSql, tables)
      .trim()
      .split('\n')
      .map((line) => line.replace(/^\d+; \d+ \d+ /, '').replace(/ postgres$/, ''));

  it('brings a table back with its data, constraints, indexes, default, owned sequence and comment', () => {
    expect(kept([{ schema: 'billing', table: 'invoices' }])).toEqual([
      'TABLE billing invoices',
      'COMMENT billing TABLE invoices',
      'SEQUENCE billing invoices_id_seq',
      'SEQUENCE OWNED BY billing invoices_id_seq',
      'DEFAULT billing invoices id',
      'TABLE DATA billing invoices',
      'SEQUENCE SET billing invoices_id_seq',
      'CONSTRAINT billing invoices invoices_pkey',
      'INDEX billing Inv Amount',
    ]);
  });

  it('matches names with spaces whole, and leaves other tables and their foreign keys out', () => {
    expect(kept([{ schema: 'odd schema', table: 'Mixed Case' }])).toEqual([
      'TABLE odd schema Mixed Case',
      'TABLE DATA odd schema Mixed Case',
      'CONSTRAINT odd schema Mixed Case Mixed Case_pkey',
      'INDEX odd schema mixed_v',
    ]);
    expect(kept([{ schema: 'public', table: 'users' }])).not.toContain(
      'FK CONSTRAINT public images images_user_id_fkey',
    );
  });
});
