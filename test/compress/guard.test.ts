import { describe, expect, it } from 'vitest';
import { guardAccuracy, rankSensitivity } from '../../src/compress/guard.js';
import { EcomlError } from '../../src/errors.js';

/**
 * A model whose accuracy loses a known amount for each layer left compressed: the guard must find
 * the costly layers by measuring, keep the fewest in float, and stop as soon as the drop holds.
 */
function layered(penaltyPp: Readonly<Record<string, number>>, sourceAccuracy = 0.98) {
  const layers = Object.keys(penaltyPp);
  const built: string[][] = [];
  return {
    layers,
    built,
    sourceAccuracy,
    build: async (keepFloat: ReadonlySet<string>) => {
      built.push([...keepFloat].sort());
      const compressed = layers.filter((l) => !keepFloat.has(l));
      return { bytes: new TextEncoder().encode(JSON.stringify(compressed)), report: compressed };
    },
    accuracy: async (bytes: Uint8Array) => {
      const compressed = JSON.parse(new TextDecoder().decode(bytes)) as string[];
      return sourceAccuracy - compressed.reduce((a, l) => a + (penaltyPp[l] ?? 0), 0) / 100;
    },
  };
}

describe('the accuracy guard', () => {
  it('keeps the fully compressed model when it holds, scoring it once', async () => {
    const model = layered({ conv: 0.1, dense: 0.2 });
    const result = await guardAccuracy({ ...model, maxDropPp: 0.5 });
    expect(result.keptFloat).toEqual([]);
    expect(result.dropPp).toBeCloseTo(0.3, 10);
    expect(result.evaluations).toBe(1);
    expect(result.sensitivity).toBeUndefined();
    expect(result.candidate.report).toEqual(['conv', 'dense']);
  });

  it('falls back the most sensitive layers, measured one by one, until the drop holds', async () => {
    const model = layered({ a: 0.1, b: 0.9, c: 0.05, d: 0.6 });
    const result = await guardAccuracy({ ...model, maxDropPp: 0.5 });
    // Full: 1.65 pp. Sensitivity ranks b, d, a, c; b alone back in float leaves 0.75, b and d leave 0.15.
    expect(result.keptFloat).toEqual(['b', 'd']);
    expect(result.dropPp).toBeCloseTo(0.15, 10);
    expect(result.dropPp).toBeLessThanOrEqual(0.5);
    expect(result.candidate.report).toEqual(['a', 'c']);
    expect(rankSensitivity(result.sensitivity ?? []).map((s) => s.layer)).toEqual(['b', 'd', 'a', 'c']);
    // 1 full + 4 single-layer + 2 fallback steps.
    expect(result.evaluations).toBe(7);
    expect(model.built.slice(1, 5)).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('fails naming the most sensitive layers when nothing short of all float holds, and builds no more', async () => {
    const model = layered({ a: 0.4, b: 0.3, c: 0.35 });
    const error = await guardAccuracy({ ...model, maxDropPp: 0.2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).code).toBe('E_ACCURACY_GUARD');
    expect((error as EcomlError).message).toMatch(/most sensitive layers: a .*c .*b/);
    expect((error as EcomlError).message).toContain('Nothing was written');
    // Full, three single layers, then a and c in float (b alone left: 0.3 pp > 0.2): never all three.
    expect(model.built.at(-1)).toEqual(['a', 'c']);
  });

  it('judges an uncompressed-layer loss (pruning, distillation) with no layers to fall back', async () => {
    const error = await guardAccuracy({ layers: [], build: async () => ({ bytes: new Uint8Array(1), report: undefined }), accuracy: async () => 0.9, sourceAccuracy: 0.95, maxDropPp: 0.5 }).catch((e: unknown) => e);
    expect((error as EcomlError).code).toBe('E_ACCURACY_GUARD');
    expect((error as EcomlError).message).toContain('5.00 pp');
  });
});
