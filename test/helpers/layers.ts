import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { REPO_ROOT } from './services.js';

/**
 * The layers, lowest first: a module may import its own layer or a lower one. The longest matching
 * prefix places a file (src/temporal/names.ts sits below the rest of src/temporal).
 */
export const LAYERS: readonly { name: string; prefixes: readonly string[] }[] = [
  { name: 'pure core', prefixes: ['src/core/'] },
  { name: 'settings and names', prefixes: ['src/process/', 'src/config/', 'src/temporal/names.ts'] },
  {
    name: 'drivers',
    prefixes: ['src/storage/', 'src/crypto/', 'src/postgres/', 'src/stream/', 'src/temporal/', 'src/notify/'],
  },
  {
    name: 'operations',
    prefixes: [
      'src/backup/',
      'src/restore/',
      'src/rekey/',
      'src/retention/',
      'src/drill/',
      'src/health/',
      'src/metrics/',
      'src/pitr/',
    ],
  },
  { name: 'activities', prefixes: ['activities/'] },
  { name: 'workflows', prefixes: ['workflows/'] },
  { name: 'client', prefixes: ['src/client/', 'src/schedules/'] },
  { name: 'programs', prefixes: ['src/cli/', 'src/worker/'] },
];

const ROOTS = ['src', 'workflows', 'activities'];

export interface Import {
  target: string;
  typeOnly: boolean;
}

/** Every module's imports of other modules of ours, as repo-relative paths. */
export function importGraph(): Map<string, string[]> {
  return new Map(sourceFiles().map((file) => [file, [...new Set(importsOf(file).map((i) => i.target))]]));
}

export function importsOf(file: string): Import[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const found: Import[] = [];
  // Static imports and re-exports (also multi-line ones: no ';' stands inside a statement).
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s*from\s+'([^']+)'/gms)) {
    const specifiers = m[3] ?? '';
    const allTypes = /^\{[^}]*\}$/s.test(specifiers.trim()) && allSpecifiersAreTypes(specifiers);
    add(found, file, m[4]!, Boolean(m[2]) || allTypes);
  }
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) add(found, file, m[1]!, false);
  return found;
}

function allSpecifiersAreTypes(braces: string): boolean {
  const names = braces
    .replace(/[{}]/g, '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((name) => name.startsWith('type '));
}

function add(found: Import[], file: string, specifier: string, typeOnly: boolean): void {
  if (!specifier.startsWith('.')) return;
  const target = resolveModule(file, specifier);
  if (target) found.push({ target, typeOnly });
}

function resolveModule(file: string, specifier: string): string | undefined {
  const base = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '');
  return [`${base}.ts`, `${base}/index.ts`].find((candidate) => existsSync(join(REPO_ROOT, candidate)));
}

function sourceFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return walk(path);
      return entry.name.endsWith('.ts') ? [relative(REPO_ROOT, path).split('\\').join('/')] : [];
    });
  return ROOTS.flatMap((root) => walk(join(REPO_ROOT, root))).sort();
}

export function layerOf(file: string): number | undefined {
  let best: { layer: number; length: number } | undefined;
  LAYERS.forEach(({ prefixes }, layer) => {
    for (const prefix of prefixes) {
      if (file.startsWith(prefix) && prefix.length > (best?.length ?? -1))
        best = { layer, length: prefix.length };
    }
  });
  return best?.layer;
}

/** `a -> b` for each import of a module from a higher layer than its own. */
export function upwardImports(graph: Map<string, string[]>): string[] {
  return [...graph].flatMap(([file, targets]) =>
    targets
      .filter((target) => (layerOf(target) ?? Infinity) > (layerOf(file) ?? -Infinity))
      .map((target) => `${file} -> ${target}`),
  );
}

/** Tarjan's strongly connected components: any component of two or more modules is a cycle. */
export function stronglyConnected(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      components.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return components;
}
