// Reading an archive's table of contents (`pg_restore --list`) and writing the --use-list that
// restores whole tables.

/**
 * The entries a `pg_restore --list` file keeps: those not commented out with ';'. Table data reads
 * "<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>"; names are matched whole, spaces and all.
 */
export function activeListLines(list: string): string[] {
  return list.split('\n').filter((line) => /^\s*\d+;/.test(line));
}

const IDENT = String.raw`"(?:[^"]|"")*"|[^\s."]+`;
const CREATE_INDEX = new RegExp(
  String.raw`^CREATE (?:UNIQUE )?INDEX (${IDENT}) ON (?:ONLY )?(${IDENT})\.(${IDENT}) `,
  'gm',
);
const SEQUENCE_OWNED = new RegExp(
  String.raw`^ALTER SEQUENCE (${IDENT})\.(${IDENT}) OWNED BY (${IDENT})\.(${IDENT})\.(?:${IDENT});`,
  'gm',
);

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/**
 * The `pg_restore --use-list` that restores whole tables: pg_restore --table alone restores a
 * table's definition and rows but not its indexes, constraints, triggers, defaults or owned
 * sequences. toc is `pg_restore --list`; schemaSql is `pg_restore --schema-only -f -`, which says
 * what each index and sequence belongs to (the list does not).
 */
export function wholeTablesList(
  toc: string,
  schemaSql: string,
  tables: { schema: string; table: string }[],
): string {
  const owned = (pattern: RegExp, ownerGroups: [number, number], nameGroup: number) =>
    [...schemaSql.matchAll(pattern)].map((m) => ({
      schema: unquote(m[ownerGroups[0]]!),
      table: unquote(m[ownerGroups[1]]!),
      name: unquote(m[nameGroup]!),
    }));
  const indexes = owned(CREATE_INDEX, [2, 3], 1);
  const sequences = owned(SEQUENCE_OWNED, [3, 4], 2);
  const prefixes = tables.flatMap(({ schema: s, table: t }) => {
    const mine = (list: typeof indexes) =>
      list.filter((x) => x.schema === s && x.table === t).map((x) => x.name);
    return [
      ...['TABLE', 'TABLE DATA', 'CONSTRAINT', 'FK CONSTRAINT', 'TRIGGER', 'DEFAULT'].map(
        (type) => `${type} ${s} ${t} `,
      ),
      `COMMENT ${s} TABLE ${t} `,
      `ACL ${s} TABLE ${t} `,
      ...mine(indexes).map((name) => `INDEX ${s} ${name} `),
      ...mine(sequences).flatMap((name) =>
        ['SEQUENCE', 'SEQUENCE SET', 'SEQUENCE OWNED BY'].map((type) => `${type} ${s} ${name} `),
      ),
    ];
  });
  const kept = activeListLines(toc).filter((line) => {
    const entry = line.replace(/^\s*\d+;\s+\d+\s+\d+\s+/, '');
    return prefixes.some((prefix) => entry.startsWith(prefix));
  });
  return `${kept.join('\n')}\n`;
}
