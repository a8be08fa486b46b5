/**
 * The server's energy ledger. The meter closes a window every interval; the window's energy (and
 * its bounds and CO2e) is shared among the models, and among their requests, in proportion to the
 * compute time each used in it (the Scaphandre/Kepler rule `ecoml measure` applies to processes).
 * A window without compute is the server's idle energy. A request is answered before its window
 * closes, so its response header carries its compute time × the energy per compute-second of the
 * last window that had compute; the stored per-request figure is the exact share, written when
 * the window closes.
 * @module
 */
import { ERROR_MODELS, type Measurement, type Method } from '../meter/index.js';

/** A quantity of energy with its bounds and emissions. */
export interface EnergyAmount {
  readonly joules: number;
  readonly low: number;
  readonly high: number;
  readonly kgCo2e: number;
}

/** How a figure was obtained: measured only when every component of its window was. */
export interface EnergyLabel {
  readonly method: Method;
  /** The models behind the components, e.g. 'tdp-per-core×process-cpu-time (…); rss×0.375 W/GiB'. */
  readonly model: string;
}

export type LabelledEnergy = EnergyAmount & EnergyLabel;

/**
 * Splits `amount` in proportion to `weights` (non-negative): every part ≥ 0 and the parts add up
 * to the whole. All-zero weights get nothing (the caller books the whole elsewhere).
 */
export function shareOut(amount: EnergyAmount, weights: readonly number[]): EnergyAmount[] {
  const total = weights.reduce((a, w) => a + (w > 0 ? w : 0), 0);
  return weights.map((w) => {
    const f = total > 0 && w > 0 ? w / total : 0;
    return { joules: amount.joules * f, low: amount.low * f, high: amount.high * f, kgCo2e: amount.kgCo2e * f };
  });
}

export function scaleEnergy(amount: LabelledEnergy, factor: number): LabelledEnergy {
  return { ...amount, joules: amount.joules * factor, low: amount.low * factor, high: amount.high * factor, kgCo2e: amount.kgCo2e * factor };
}

/** A finished request, as the request log keeps it. */
export interface RequestRecord {
  readonly model: string;
  readonly version: number;
  readonly protocol: string;
  readonly id?: string;
  readonly status: number;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
  /** Samples it carried. */
  readonly inferences: number;
  readonly queueMs: number;
  readonly computeMs: number;
}

export interface ModelUsage {
  readonly model: string;
  readonly version: number;
  readonly requests: number;
  readonly failures: number;
  readonly inferences: number;
  readonly computeMs: number;
  readonly energy: EnergyAmount;
}

/** One closed window, shared out. */
export interface WindowAttribution {
  readonly measurement: Measurement;
  readonly label: EnergyLabel;
  readonly models: readonly ModelUsage[];
  /** Energy of a window in which no model computed. */
  readonly idle?: EnergyAmount;
  readonly requests: readonly (RequestRecord & { readonly energy: EnergyAmount })[];
}

interface Tally {
  readonly model: string;
  readonly version: number;
  requests: number;
  failures: number;
  inferences: number;
  computeMs: number;
}

export function labelOf(measurement: Measurement): EnergyLabel {
  const components = measurement.energy.components;
  const method: Method = components.length > 0 && components.every((c) => c.method === 'measured') ? 'measured' : 'estimated';
  return { method, model: [...new Set(components.map((c) => c.model))].join('; ') };
}

export function amountOf(measurement: Measurement): EnergyAmount {
  return { joules: measurement.energy.joules, low: measurement.energy.low, high: measurement.energy.high, kgCo2e: measurement.emissions.kgCo2e };
}

export interface LedgerOptions {
  /**
   * Energy per compute-second until a window with compute has closed: a CPU thread's share of the
   * TDP (CodeCarbon's rule), with that estimate's bounds.
   */
  readonly prior: { readonly wattsPerThread: number; readonly threads: number; readonly model: string };
}

export class EnergyLedger {
  private tallies = new Map<string, Tally>();
  private requests: RequestRecord[] = [];
  private rate: LabelledEnergy;

  constructor(options: LedgerOptions) {
    const watts = options.prior.wattsPerThread * options.prior.threads;
    const bounds = ERROR_MODELS['cpu-tdp-estimate'];
    this.rate = { joules: watts, low: watts * bounds.lowFactor, high: watts * bounds.highFactor, kgCo2e: 0, method: 'estimated', model: `prior until the first window: ${options.prior.model}` };
  }

  private tally(model: string, version: number): Tally {
    const key = `${model}\u0000${version}`;
    let t = this.tallies.get(key);
    if (t === undefined) {
      t = { model, version, requests: 0, failures: 0, inferences: 0, computeMs: 0 };
      this.tallies.set(key, t);
    }
    return t;
  }

  /** A batch ran: its compute time counts toward the model's share of the window. */
  addCompute(model: string, version: number, computeMs: number): void {
    this.tally(model, version).computeMs += computeMs;
  }

  /** A request was answered (or failed); returns its energy as estimated now, for the response. */
  addRequest(record: RequestRecord): LabelledEnergy {
    const t = this.tally(record.model, record.version);
    t.requests++;
    if (record.status >= 400) t.failures++;
    else t.inferences += record.inferences;
    this.requests.push(record);
    return this.estimate(record.computeMs);
  }

  /** Energy for `computeMs` of compute at the last window's rate (CO2e at that window's intensity). */
  estimate(computeMs: number): LabelledEnergy {
    return scaleEnergy(this.rate, computeMs / 1000);
  }

  /** Shares a closed window out among the models and requests that computed in it, and starts the next. */
  close(measurement: Measurement): WindowAttribution {
    const tallies = [...this.tallies.values()];
    const requests = this.requests;
    this.tallies = new Map();
    this.requests = [];
    const label = labelOf(measurement);
    const whole = amountOf(measurement);
    const computeMs = tallies.reduce((a, t) => a + t.computeMs, 0);
    if (computeMs > 0) this.rate = scaleEnergy({ ...whole, ...label }, 1000 / computeMs);
    const modelShares = shareOut(whole, tallies.map((t) => t.computeMs));
    // Compute no request accounts for (a model's load and warm-up) keeps its share off the requests.
    const requested = requests.reduce((a, r) => a + r.computeMs, 0);
    const requestShares = shareOut(whole, [...requests.map((r) => r.computeMs), Math.max(0, computeMs - requested)]);
    return {
      measurement,
      label,
      models: tallies.map((t, i) => ({ model: t.model, version: t.version, requests: t.requests, failures: t.failures, inferences: t.inferences, computeMs: t.computeMs, energy: modelShares[i] as EnergyAmount })),
      ...(computeMs > 0 ? {} : { idle: whole }),
      requests: requests.map((r, i) => ({ ...r, energy: requestShares[i] as EnergyAmount })),
    };
  }
}
