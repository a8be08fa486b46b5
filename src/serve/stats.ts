/**
 * Per model-version statistics in the shape of Triton's statistics extension (counts and
 * nanosecond totals), which perf_analyzer reads to split latency into queue and compute time,
 * with the energy attributed to each version alongside.
 * @module
 */
import type { BatchRecord } from './batcher.js';
import type { EnergyAmount, WindowAttribution } from './energy.js';

export interface Duration {
  count: number;
  ns: number;
}

export interface VersionStats {
  readonly model: string;
  readonly version: number;
  /** Milliseconds since the epoch of the last answered request; 0 if none. */
  lastInferenceMs: number;
  /** Samples inferred. */
  inferenceCount: number;
  /** Batches executed. */
  executionCount: number;
  readonly success: Duration;
  readonly fail: Duration;
  readonly queue: Duration;
  readonly computeInfer: Duration;
  readonly batches: Map<number, Duration>;
  readonly energy: { joules: number; low: number; high: number; kgCo2e: number };
}

const ms = (value: number): number => Math.round(value * 1e6);

export class StatsBook {
  private readonly versions = new Map<string, VersionStats>();

  private of(model: string, version: number): VersionStats {
    const key = `${model}\u0000${version}`;
    let s = this.versions.get(key);
    if (s === undefined) {
      s = {
        model,
        version,
        lastInferenceMs: 0,
        inferenceCount: 0,
        executionCount: 0,
        success: { count: 0, ns: 0 },
        fail: { count: 0, ns: 0 },
        queue: { count: 0, ns: 0 },
        computeInfer: { count: 0, ns: 0 },
        batches: new Map(),
        energy: { joules: 0, low: 0, high: 0, kgCo2e: 0 },
      };
      this.versions.set(key, s);
    }
    return s;
  }

  batch(model: string, version: number, record: BatchRecord): void {
    const s = this.of(model, version);
    s.executionCount++;
    s.inferenceCount += record.size;
    s.computeInfer.count += record.requests;
    s.computeInfer.ns += ms(record.computeMs) * record.requests;
    for (const q of record.queueMs) {
      s.queue.count++;
      s.queue.ns += ms(q);
    }
    const b = s.batches.get(record.size) ?? { count: 0, ns: 0 };
    b.count++;
    b.ns += ms(record.computeMs);
    s.batches.set(record.size, b);
  }

  request(model: string, version: number, ok: boolean, durationMs: number, at: number): void {
    const s = this.of(model, version);
    const d = ok ? s.success : s.fail;
    d.count++;
    d.ns += ms(durationMs);
    if (ok) s.lastInferenceMs = at;
  }

  window(attribution: WindowAttribution): void {
    for (const u of attribution.models) add(this.of(u.model, u.version).energy, u.energy);
  }

  /** Statistics of every version of `model` (or of every model), optionally one version. */
  select(model?: string, version?: number): VersionStats[] {
    return [...this.versions.values()]
      .filter((s) => (model === undefined || s.model === model) && (version === undefined || s.version === version))
      .sort((a, b) => a.model.localeCompare(b.model) || a.version - b.version);
  }
}

function add(total: { joules: number; low: number; high: number; kgCo2e: number }, part: EnergyAmount): void {
  total.joules += part.joules;
  total.low += part.low;
  total.high += part.high;
  total.kgCo2e += part.kgCo2e;
}
