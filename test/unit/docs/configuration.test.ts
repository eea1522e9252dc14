import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { SECRET_VARIABLES, envSchema } from '../../../src/config/schema.js';
import { REPO_ROOT } from '../../helpers/services.js';

// docs/configuration.md is the reference of every variable: this keeps it and the schema in step.

interface DocumentedVariable {
  name: string;
  /** The default cell as written. */
  defaultCell: string;
  line: number;
}

/** The rows of every table whose first column is "variable": one entry per variable a row names. */
function documentedVariables(markdown: string): DocumentedVariable[] {
  const found: DocumentedVariable[] = [];
  let inVariableTable = false;
  markdown.split('\n').forEach((text, index) => {
    if (!text.startsWith('|')) {
      inVariableTable = false;
      return;
    }
    const cells = text
      .slice(1, text.trimEnd().endsWith('|') ? text.trimEnd().length - 1 : undefined)
      .split('|')
      .map((cell) => cell.trim());
    if (cells[0] === 'variable') {
      inVariableTable = true;
      return;
    }
    if (!inVariableTable || /^:?-+:?$/.test(cells[0] ?? '')) return;
    for (const [, name] of (cells[0] ?? '').matchAll(/`([^`]+)`/g)) {
      found.push({ name: name!, defaultCell: cells[1] ?? '', line: index + 1 });
    }
  });
  return found;
}

/** The schema's default of a variable as text, or undefined when it has none (optional or required). */
function schemaDefault(name: string): string | undefined {
  const field = (envSchema.shape as Record<string, z.ZodType>)[name];
  const parsed = field?.safeParse(undefined);
  return parsed?.success && parsed.data !== undefined ? String(parsed.data) : undefined;
}

const doc = readFileSync(`${REPO_ROOT}docs/configuration.md`, 'utf8');
const documented = documentedVariables(doc);
const expected = [...Object.keys(envSchema.shape), ...SECRET_VARIABLES.map((name) => `${name}_FILE`)];

describe('docs/configuration.md', () => {
  it('reads the tables (a sanity check of the parser)', () => {
    expect(documented.length).toBeGreaterThan(50);
    expect(documented.find((v) => v.name === 'DB_PORT')?.defaultCell).toBe('`5432`');
  });

  it('lists every variable of the schema, and every _FILE form of a secret', () => {
    const names = new Set(documented.map((v) => v.name));
    expect(expected.filter((name) => !names.has(name))).toEqual([]);
  });

  it('lists no variable the schema does not read', () => {
    const known = new Set(expected);
    expect(documented.filter((v) => !known.has(v.name)).map((v) => `line ${v.line}: ${v.name}`)).toEqual([]);
  });

  it('gives each default as the schema has it; a variable without one has no value in code there', () => {
    const wrong = documented.flatMap(({ name, defaultCell, line }) => {
      const value = schemaDefault(name);
      // A default in code comes first in its cell; computed ones and "none" are in words.
      const written = /^`([^`]*)`/.exec(defaultCell)?.[1];
      return written === value
        ? []
        : [`line ${line}: ${name}: the doc says ${defaultCell}, the schema ${value}`];
    });
    expect(wrong).toEqual([]);
  });

  it('says how each secret is given as a file', () => {
    for (const name of SECRET_VARIABLES) {
      const row = documented.find((v) => v.name === `${name}_FILE`);
      const sameRow = documented.find((v) => v.name === name && v.line === row?.line);
      expect(sameRow, `${name}_FILE on the row of ${name}`).toBeDefined();
    }
  });
});
