import { describe, expect, it } from 'vitest';
import {
  importGraph,
  importsOf,
  layerOf,
  LAYERS,
  stronglyConnected,
  upwardImports,
} from '../helpers/layers.js';

// The seams hold only while imports point down the layers and never loop: a cycle or an upward
// import is how a "pure" module starts to need a worker, a bucket or a Temporal server.
describe('the import graph of src/, workflows/ and activities/', () => {
  const graph = importGraph();

  it('reads every source module (a graph of nothing would pass anything)', () => {
    expect(graph.size).toBeGreaterThan(80);
    expect(graph.get('workflows/backup.ts')?.length).toBeGreaterThan(0);
  });

  it('has no import cycle', () => {
    const cycles = stronglyConnected(graph).filter((component) => component.length > 1);
    expect(cycles).toEqual([]);
  });

  it('imports only down the layers (or within one)', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('places every module in a layer', () => {
    const unplaced = [...graph.keys()].filter((file) => layerOf(file) === undefined);
    expect(unplaced).toEqual([]);
  });

  it('lets workflows see activities only as types', () => {
    const valueImports = [...graph.keys()]
      .filter((file) => file.startsWith('workflows/'))
      .flatMap((file) =>
        importsOf(file)
          .filter((i) => i.target.startsWith('activities/') && !i.typeOnly)
          .map((i) => `${file} -> ${i.target}`),
      );
    expect(valueImports).toEqual([]);
  });

  it('finds what it is meant to find (a rule that cannot fail is no rule)', () => {
    const planted = new Map(graph);
    planted.set('src/core/naming.ts', [...(graph.get('src/core/naming.ts') ?? []), 'src/storage/fs.ts']);
    planted.set('src/storage/fs.ts', [...(graph.get('src/storage/fs.ts') ?? []), 'src/core/naming.ts']);
    expect(upwardImports(planted)).toContain('src/core/naming.ts -> src/storage/fs.ts');
    expect(stronglyConnected(planted).some((c) => c.includes('src/core/naming.ts') && c.length > 1)).toBe(
      true,
    );
    expect(LAYERS.length).toBeGreaterThan(3);
  });
});
