/**
 * The model server's Prometheus metrics, in a registry of its own: requests, failures, latency,
 * queue and compute time, batch sizes, loaded models, load and cold-start times, memory per model,
 * and the energy and CO2e each model used, from the ledger's shares (every energy series labelled
 * with its method, with low/high bounds beside it), plus the meter's own whole-process series.
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { registerMeterMetrics } from '../meter/outputs/index.js';
import type { BatchRecord } from './batcher.js';
import type { LabelledEnergy, WindowAttribution } from './energy.js';
import type { VersionInfo } from './models.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const JOULE_BUCKETS = [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100];

export interface ServeMetrics {
  readonly registry: Registry;
  /** One answered inference request (any status); the version is unknown when it failed before one was chosen. */
  request(model: string, version: number | undefined, protocol: string, code: number, seconds: number, energy?: LabelledEnergy): void;
  batch(model: string, version: number, record: BatchRecord): void;
  load(model: string, version: number, seconds: number, coldStart: boolean): void;
  window(attribution: WindowAttribution): void;
}

export function registerServeMetrics(registry: Registry, models: () => readonly VersionInfo[]): ServeMetrics {
  const registers = [registry];
  const mv = ['model', 'version'] as const;
  const requests = new Counter({ name: 'ecoml_serve_requests_total', help: 'Inference requests answered, by HTTP status code.', labelNames: [...mv, 'protocol', 'code'], registers });
  const failures = new Counter({ name: 'ecoml_serve_request_failures_total', help: 'Inference requests answered with an error status (4xx, 5xx).', labelNames: [...mv, 'protocol', 'code'], registers });
  const latency = new Histogram({ name: 'ecoml_serve_request_duration_seconds', help: 'Time from receiving an inference request to answering it.', labelNames: [...mv, 'protocol'], buckets: LATENCY_BUCKETS, registers });
  const queue = new Histogram({ name: 'ecoml_serve_queue_duration_seconds', help: 'Time requests waited in the model queue before their batch ran.', labelNames: mv, buckets: LATENCY_BUCKETS, registers });
  const compute = new Histogram({ name: 'ecoml_serve_compute_duration_seconds', help: 'Time one batch took to compute.', labelNames: mv, buckets: LATENCY_BUCKETS, registers });
  const batchSize = new Histogram({ name: 'ecoml_serve_batch_size', help: 'Samples per executed batch.', labelNames: mv, buckets: BATCH_BUCKETS, registers });
  const inferences = new Counter({ name: 'ecoml_serve_inferences_total', help: 'Samples inferred (a request with a batch of n counts n).', labelNames: mv, registers });
  const executions = new Counter({ name: 'ecoml_serve_executions_total', help: 'Batches executed; inferences_total / executions_total is the mean batch size.', labelNames: mv, registers });
  const loadTime = new Histogram({ name: 'ecoml_serve_model_load_seconds', help: 'Time to load and warm up a model version.', labelNames: mv, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
  const coldStart = new Histogram({ name: 'ecoml_serve_cold_start_seconds', help: 'Load time a request waited for, after an idle or budget unload.', labelNames: mv, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
  const energy = new Counter({ name: 'ecoml_serve_energy_joules_total', help: "Energy attributed to each model by its share of the window's compute time (before PUE), joules.", labelNames: [...mv, 'method'], registers });
  const energyLow = new Counter({ name: 'ecoml_serve_energy_joules_low_total', help: 'Lower bound of ecoml_serve_energy_joules_total.', labelNames: [...mv, 'method'], registers });
  const energyHigh = new Counter({ name: 'ecoml_serve_energy_joules_high_total', help: 'Upper bound of ecoml_serve_energy_joules_total.', labelNames: [...mv, 'method'], registers });
  const emissions = new Counter({ name: 'ecoml_serve_emissions_kg_total', help: 'Operational emissions attributed to each model (energy × PUE × grid intensity), kgCO2e.', labelNames: [...mv, 'method'], registers });
  const idle = new Counter({ name: 'ecoml_serve_idle_energy_joules_total', help: 'Energy of metered windows in which no model computed, joules.', labelNames: ['method'], registers });
  const perInference = new Gauge({
    name: 'ecoml_serve_joules_per_inference',
    help: "Each model's attributed energy per sample inferred, over the last window it computed in, joules.",
    labelNames: [...mv, 'method', 'bound'],
    registers,
  });
  const requestEnergy = new Histogram({ name: 'ecoml_serve_request_energy_joules', help: 'Energy of each answered request as sent in its ecoml-energy-joules header.', labelNames: mv, buckets: JOULE_BUCKETS, registers });
  const meter = registerMeterMetrics(registry);
  // Each request's series, looked up once: hashing label values on every request is a hot-path cost.
  const children = new Map<string, { requests: Counter.Internal; failures?: Counter.Internal; latency: Histogram.Internal<string>; energy: Histogram.Internal<string> }>();

  new Gauge({
    name: 'ecoml_serve_loaded_models',
    help: 'Model versions loaded now (ready to answer without a load).',
    registers,
    collect() {
      this.set(models().filter((m) => m.instances > 0).length);
    },
  });
  new Gauge({
    name: 'ecoml_serve_model_memory_bytes',
    help: "Host memory each loaded model version's instances hold (weights' bytes × instances).",
    labelNames: mv,
    registers,
    collect() {
      this.reset();
      for (const m of models()) if (m.instances > 0) this.set({ model: m.model, version: String(m.version) }, m.memoryBytes);
    },
  });
  new Gauge({
    name: 'ecoml_serve_model_state',
    help: 'Each model version by state (1 for its current state): loading, ready, idle (unloaded until its next request), unloaded, failed, unloading.',
    labelNames: [...mv, 'state'],
    registers,
    collect() {
      this.reset();
      for (const m of models()) this.set({ model: m.model, version: String(m.version), state: m.status }, 1);
    },
  });

  return {
    registry,
    request(model, version, protocol, code, seconds, e) {
      const key = `${model}\u0000${version ?? ''}\u0000${protocol}\u0000${code}`;
      let child = children.get(key);
      if (child === undefined) {
        const v = version === undefined ? '' : String(version);
        child = {
          requests: requests.labels(model, v, protocol, String(code)),
          ...(code >= 400 ? { failures: failures.labels(model, v, protocol, String(code)) } : {}),
          latency: latency.labels(model, v, protocol),
          energy: requestEnergy.labels(model, v),
        };
        children.set(key, child);
      }
      child.requests.inc();
      child.failures?.inc();
      child.latency.observe(seconds);
      if (e !== undefined && code < 400) child.energy.observe(e.joules);
    },
    batch(model, version, record) {
      const labels = { model, version: String(version) };
      batchSize.observe(labels, record.size);
      compute.observe(labels, record.computeMs / 1000);
      inferences.inc(labels, record.size);
      executions.inc(labels);
      for (const ms of record.queueMs) queue.observe(labels, ms / 1000);
    },
    load(model, version, seconds, cold) {
      const labels = { model, version: String(version) };
      loadTime.observe(labels, seconds);
      if (cold) coldStart.observe(labels, seconds);
    },
    window(attribution) {
      meter.observe(attribution.measurement);
      const method = attribution.label.method;
      if (attribution.idle !== undefined) idle.inc({ method }, attribution.idle.joules);
      for (const u of attribution.models) {
        const labels = { model: u.model, version: String(u.version), method };
        energy.inc(labels, u.energy.joules);
        energyLow.inc(labels, u.energy.low);
        energyHigh.inc(labels, u.energy.high);
        emissions.inc(labels, u.energy.kgCo2e);
        if (u.inferences > 0) {
          perInference.set({ ...labels, bound: 'estimate' }, u.energy.joules / u.inferences);
          perInference.set({ ...labels, bound: 'low' }, u.energy.low / u.inferences);
          perInference.set({ ...labels, bound: 'high' }, u.energy.high / u.inferences);
        }
      }
    },
  };
}
