import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/services.js';

// Every message the program can print (errors, their hints, the CLI's warnings) is explained in
// docs/troubleshooting.md: this reads them out of the sources and fails on one the doc lacks.

const SOURCE_FOLDERS = ['src', 'activities', 'workflows'];

function sourceFiles(folder: string): string[] {
  return readdirSync(join(REPO_ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(REPO_ROOT, folder, file));
}

export interface Message {
  text: string;
  /** file:line, for the failure message. */
  at: string;
}

/**
 * The static text of every message: string literals, and the literal parts of template literals (a
 * `${...}` is left out), followed through the constants, tables and parameters they come from.
 */
export function extractMessages(files: string[]): Message[] {
  // Imports stay unresolved: the binder alone knows which declaration each local name refers to.
  const program = ts.createProgram(files, { noResolve: true, noLib: true, types: [], allowJs: false });
  const checker = program.getTypeChecker();
  const found: Message[] = [];
  /** Functions that pass a parameter on as a message or hint: name -> parameter positions. */
  const wrappers = new Map<string, Set<number>>();

  const declarationOf = (node: ts.Identifier): ts.Declaration | undefined =>
    checker.getSymbolAtLocation(node)?.declarations?.[0];

  /** The literal text in an expression, through constants, tables and `??`/`||`/`?:`. */
  function pieces(
    node: ts.Node,
    onParameter: (p: ts.ParameterDeclaration) => void,
    seen = new Set<ts.Node>(),
  ): string[] {
    if (seen.has(node)) return [];
    seen.add(node);
    const recurse = (child: ts.Node) => pieces(child, onParameter, seen);
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
    if (ts.isTemplateExpression(node)) {
      return [
        node.head.text,
        ...node.templateSpans.flatMap((span) => [...recurse(span.expression), span.literal.text]),
      ];
    }
    if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isNonNullExpression(node))
      return recurse(node.expression);
    if (ts.isConditionalExpression(node)) return [...recurse(node.whenTrue), ...recurse(node.whenFalse)];
    if (ts.isBinaryExpression(node)) {
      const kind = node.operatorToken.kind;
      if (
        kind === ts.SyntaxKind.PlusToken ||
        kind === ts.SyntaxKind.BarBarToken ||
        kind === ts.SyntaxKind.QuestionQuestionToken
      )
        return [...recurse(node.left), ...recurse(node.right)];
      return [];
    }
    // A table: every string in it (MEANINGS[meaning], PERMANENT_SQLSTATES[code]).
    if (ts.isElementAccessExpression(node)) return recurse(node.expression);
    if (ts.isObjectLiteralExpression(node))
      return node.properties.flatMap((p) => (ts.isPropertyAssignment(p) ? recurse(p.initializer) : []));
    if (ts.isArrayLiteralExpression(node)) return node.elements.flatMap(recurse);
    if (ts.isIdentifier(node)) {
      const declaration = declarationOf(node);
      if (!declaration) return [];
      if (ts.isParameter(declaration)) {
        onParameter(declaration);
        return [];
      }
      if (ts.isVariableDeclaration(declaration) && declaration.initializer)
        return recurse(declaration.initializer);
      // for (const [pattern, reason] of TABLE): the strings of the table.
      if (ts.isBindingElement(declaration)) {
        let up: ts.Node = declaration;
        while (!ts.isVariableDeclarationList(up) && up.parent) up = up.parent;
        if (up.parent && ts.isForOfStatement(up.parent)) return recurse(up.parent.expression);
      }
      return [];
    }
    return [];
  }

  /** Records the message in an expression; a parameter makes its function a wrapper, its callers carry the text. */
  function record(expression: ts.Node | undefined, file: ts.SourceFile) {
    if (!expression) return;
    const at = `${relative(REPO_ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(expression.getStart()).line + 1}`;
    const onParameter = (parameter: ts.ParameterDeclaration) => {
      const fn = parameter.parent;
      const named =
        (ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn)) && fn.name
          ? { name: fn.name.getText(), exported: isExported(fn) }
          : ts.isArrowFunction(fn) && ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name)
            ? { name: fn.parent.name.text, exported: isExported(fn.parent.parent.parent) }
            : undefined;
      if (!named) return;
      // Local names may repeat from file to file (thaw, read): a local wrapper is known in its file only.
      const keys = [
        `${parameter.getSourceFile().fileName}#${named.name}`,
        ...(named.exported ? [named.name] : []),
      ];
      for (const key of keys) {
        const positions = wrappers.get(key) ?? new Set<number>();
        positions.add(fn.parameters.indexOf(parameter));
        wrappers.set(key, positions);
      }
    };
    for (const text of pieces(expression, onParameter)) found.push({ text, at });
  }

  /** A hint ({ hint: ... } anywhere: ERROR_KINDS, an error's options), through a function that returns hints (hintFor). */
  function recordHint(property: ts.ObjectLiteralElementLike, file: ts.SourceFile) {
    if (ts.isShorthandPropertyAssignment(property)) {
      const value = checker.getShorthandAssignmentValueSymbol(property)?.declarations?.[0];
      if (value && ts.isParameter(value)) record(property.name, file);
      return;
    }
    if (!ts.isPropertyAssignment(property)) return;
    const value = property.initializer;
    const callee =
      ts.isCallExpression(value) && ts.isIdentifier(value.expression)
        ? declarationOf(value.expression)
        : undefined;
    if (!callee || !ts.isFunctionDeclaration(callee) || !callee.body) return record(value, file);
    const visit = (node: ts.Node): void => {
      if (ts.isReturnStatement(node)) record(node.expression, file);
      ts.forEachChild(node, visit);
    };
    visit(callee.body);
  }

  const sources = program.getSourceFiles().filter((f) => files.includes(f.fileName));
  const calls: { call: ts.CallExpression; file: ts.SourceFile }[] = [];
  for (const file of sources) {
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && node.expression.getText(file) === 'BackupError')
        record(node.arguments?.[1], file);
      if (
        (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) &&
        node.name.getText(file) === 'hint'
      )
        recordHint(node, file);
      // The schema's messages ({ error: '...' }), printed as `VARIABLE: message`.
      if (
        ts.isPropertyAssignment(node) &&
        node.name.getText(file) === 'error' &&
        (ts.isStringLiteral(node.initializer) || ts.isTemplateExpression(node.initializer))
      )
        record(node.initializer, file);
      if (ts.isCallExpression(node)) {
        const callee = node.expression.getText(file);
        if (callee === 'ApplicationFailure.create') {
          const options = node.arguments[0];
          if (options && ts.isObjectLiteralExpression(options)) {
            for (const property of options.properties) {
              // { message }: a parameter, which makes the function a wrapper (kindedFailure).
              if (ts.isShorthandPropertyAssignment(property) && property.name.text === 'message') {
                const value = checker.getShorthandAssignmentValueSymbol(property)?.declarations?.[0];
                if (value && ts.isParameter(value)) record(value.name, file);
              }
              if (!ts.isPropertyAssignment(property)) continue;
              if (property.name.getText(file) === 'message') record(property.initializer, file);
              // details[0] is the hint the CLI prints (toBackupError).
              if (
                property.name.getText(file) === 'details' &&
                ts.isArrayLiteralExpression(property.initializer)
              )
                record(property.initializer.elements[0], file);
            }
          }
        }
        // The CLI's own warnings.
        if (/^console\.(error|log|warn)$/.test(callee)) {
          const first = node.arguments[0];
          if (first && pieces(first, () => undefined)[0]?.startsWith('warning:')) record(first, file);
        }
        calls.push({ call: node, file });
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  // Wrappers found while reading may wrap others (notFound -> BackupError): repeat until nothing is new.
  const wrapperCount = () => [...wrappers.values()].reduce((sum, positions) => sum + positions.size, 0);
  for (let known = -1; known !== wrapperCount();) {
    known = wrapperCount();
    for (const { call, file } of calls) {
      const positions = wrappers.get(wrapperKey(call, file) ?? '');
      for (const position of positions ?? []) record(call.arguments[position], file);
    }
  }
  return found;

  /** name(...): local or imported; this.name(...): a method of this file (obj.call(...) is no wrapper of ours). */
  function wrapperKey(call: ts.CallExpression, file: ts.SourceFile): string | undefined {
    const callee = call.expression;
    if (ts.isPropertyAccessExpression(callee) && callee.expression.kind === ts.SyntaxKind.ThisKeyword)
      return `${file.fileName}#${callee.name.text}`;
    if (!ts.isIdentifier(callee)) return undefined;
    const declaration = declarationOf(callee);
    if (declaration && ts.isImportSpecifier(declaration))
      return (declaration.propertyName ?? declaration.name).text;
    return `${file.fileName}#${callee.text}`;
  }
}

function isExported(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
  );
}

/** The words of a piece, without the punctuation and spaces it was glued to others by. */
function normalise(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/^[\s:;,.()"'[\]=]+|[\s:;,.()"'[\]=]+$/g, '');
}

const messages = extractMessages(SOURCE_FOLDERS.flatMap(sourceFiles));
const doc = readFileSync(join(REPO_ROOT, 'docs/troubleshooting.md'), 'utf8').replace(/\s+/g, ' ');

describe('docs/troubleshooting.md', () => {
  it('finds the messages in the sources (a check of the extractor)', () => {
    const texts = messages.map((m) => m.text);
    for (const known of [
      'is not installed',
      'password authentication failed', // PERMANENT_MESSAGES, through for-of
      'connection refused', // a local table
      'integrity check failed: the backup was changed or damaged after it was encrypted', // MEANINGS[meaning]
      ': no manifest beside it (', // notFound(message): a wrapper of BackupError
      'create the bucket, or fix S3_BUCKET', // hintFor's returns
      'nobody approved the restore within ', // kindedFailure(kind, message): a wrapper of ApplicationFailure.create
      ' backup copies unreadable: ', // ApplicationFailure.create's message in a workflow
      'warning: no worker polls ', // the CLI
      'fix the named variable or flag and run again', // configError's wrapper hint
      'expected a whole number', // the schema
      'upload part ', // this.call(what, ...): a method that wraps
    ]) {
      expect(
        texts.some((t) => t.includes(known)),
        known,
      ).toBe(true);
    }
  });

  it('explains every message the program can print', () => {
    const missing = new Map<string, string>();
    for (const { text, at } of messages) {
      const words = normalise(text);
      // A piece that is only punctuation, a space or one letter joins the dynamic parts: nothing to explain.
      if (!/[A-Za-z]{2}/.test(words)) continue;
      if (!doc.includes(words)) missing.set(words, at);
    }
    expect([...missing].map(([words, at]) => `${at}: ${words}`)).toEqual([]);
  });
});
