/** `ecoml meter serve`: the meter as a Prometheus exporter, until SIGINT/SIGTERM. @module */
import { Registry } from 'prom-client';
import { createMeter, type Measurement } from '../../meter/index.js';
import { buildMeterServer } from '../../meter/outputs/metrics-server.js';
import { numberOption, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatCo2, formatJoulesShort } from '../format.js';

export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const DEFAULT_WINDOW_MS = 1000;

export interface MeterServeResult {
  readonly address: string;
  readonly intervalMs: number;
  readonly windows: number;
  readonly failedWindows: number;
  /** All windows added up; absent when it stopped before the first window ended. */
  readonly total?: Measurement;
}

export default defineCommand<MeterServeResult>({
  name: 'meter serve',
  summary: 'Serve the meter as Prometheus metrics (GET /metrics, GET /healthz) until interrupted.',
  usage: 'ecoml meter serve [--port N] [--host ADDR] [--interval MS] [--country CODE] [--pue X]',
  description:
    'Every interval the meter closes one window and opens the next; each window adds to ecoml_energy_joules_total and ecoml_emissions_kg_total and sets ecoml_power_watts. Stops cleanly on SIGINT or SIGTERM and prints the totals.',
  options: {
    port: { type: 'string', valueName: 'N', description: `port to listen on (default ${DEFAULT_METRICS_PORT}; 0 picks a free one)` },
    host: { type: 'string', valueName: 'ADDR', description: `address to listen on (default ${DEFAULT_METRICS_HOST}; 0.0.0.0 exposes it to the network)` },
    interval: { type: 'string', valueName: 'MS', description: `window length in milliseconds (default ${DEFAULT_WINDOW_MS})` },
    country: { type: 'string', valueName: 'CODE', description: 'grid country for CO2e, ISO 3166 alpha-2/3 (default $ECOML_COUNTRY, else world average)' },
    pue: { type: 'string', valueName: 'X', description: 'data-centre power usage effectiveness (default $ECOML_PUE, else 1.0)' },
  },
  async run({ values }, ctx) {
    const port = numberOption(values, 'port', { integer: true, min: 0, max: 65535 }) ?? DEFAULT_METRICS_PORT;
    const host = stringOption(values, 'host') ?? DEFAULT_METRICS_HOST;
    // Shorter windows than the NVML energy counter's ~80 ms update period would mostly read zero.
    const intervalMs = numberOption(values, 'interval', { integer: true, min: 100 }) ?? DEFAULT_WINDOW_MS;
    const country = stringOption(values, 'country');
    const pue = numberOption(values, 'pue', { min: 1 });

    const meter = await createMeter({ env: ctx.env, ...(country !== undefined ? { country } : {}), ...(pue !== undefined ? { pue } : {}) });
    try {
      const server = buildMeterServer({
        meter,
        registry: new Registry(),
        interval: intervalMs,
        onError: (error) => ctx.stderr.write(`meter window failed: ${error.code}: ${error.message}\n`),
      });
      const address = (await server.start({ port, host })) ?? `http://${host}:${port}`;
      ctx.stderr.write(`serving metrics on ${address}/metrics (windows of ${intervalMs} ms); Ctrl-C stops\n`);
      await abortion(ctx.signal);
      const summary = await server.stop();
      return { address, intervalMs, ...summary };
    } finally {
      await meter.close();
    }
  },
  render(r) {
    const lines = [`served ${r.address}/metrics: ${r.windows} window(s) of ${r.intervalMs} ms${r.failedWindows ? `, ${r.failedWindows} failed` : ''}`];
    if (r.total) {
      lines.push(
        `  metered ${r.total.durationS.toFixed(1)} s: ${formatJoulesShort(r.total.energy.joules)}, ${formatCo2(r.total.emissions.kgCo2e)} (${r.total.emissions.countryName}, PUE ${r.total.emissions.pue})`,
      );
    }
    return lines.join('\n');
  },
});

function abortion(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
