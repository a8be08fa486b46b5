/**
 * A Prometheus exporter for the meter: a loop that closes one window and opens the next every
 * interval, feeding each to the metrics, and a fastify app serving `GET /metrics` and `GET /healthz`.
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { EcomlError, toEcomlError } from '../../errors.js';
import type { Meter, MeterWindow } from '../meter.js';
import { sumMeasurements } from '../totals.js';
import type { Measurement } from '../types.js';
import { registerMeterMetrics, type MeterMetrics } from './prometheus.js';

export interface MeterServerOptions {
  readonly meter: Pick<Meter, 'begin'>;
  /** Where the metrics live; /metrics serves exactly this registry. */
  readonly registry: Registry;
  /** Window length in milliseconds. */
  readonly interval: number;
  /** Default: registerMeterMetrics(registry). */
  readonly metrics?: MeterMetrics;
  /** Called with every window after it is observed (to log it, write it to a sink…); a rejection counts as a failed window. */
  readonly onWindow?: (measurement: Measurement) => void | Promise<void>;
  /** Called when a window cannot be read or handled; the loop carries on with the next one. */
  readonly onError?: (error: EcomlError) => void;
}

export interface ListenOptions {
  readonly port: number;
  readonly host: string;
}

export interface MeterServerSummary {
  readonly windows: number;
  readonly failedWindows: number;
  /** All windows added up; absent when none completed. */
  readonly total?: Measurement;
}

export interface MeterServer {
  readonly app: FastifyInstance;
  /** Starts the window loop and, given listen options, the HTTP listener; returns the listening address. */
  start(listen?: ListenOptions): Promise<string | undefined>;
  /** Stops the loop (observing the last, partial window), closes the server and returns the totals; idempotent. */
  stop(): Promise<MeterServerSummary>;
}

export function buildMeterServer(options: MeterServerOptions): MeterServer {
  const { meter, registry, interval } = options;
  if (!(Number.isFinite(interval) && interval > 0)) {
    throw new EcomlError('E_CONFIG_INVALID', `interval must be a positive number of milliseconds, got ${interval}`, { details: { interval } });
  }
  const metrics = options.metrics ?? registerMeterMetrics(registry);
  const app = Fastify({ logger: false });

  let windows = 0;
  let failedWindows = 0;
  let total: Measurement | undefined;
  let lastWindowAt: string | undefined;
  let lastError: EcomlError | undefined;
  let current: MeterWindow | undefined;
  let sequence = 0;

  const fail = (error: unknown): void => {
    failedWindows++;
    lastError = toEcomlError(error);
    options.onError?.(lastError);
  };

  const record = async (measurement: Measurement): Promise<void> => {
    metrics.observe(measurement);
    windows++;
    // A running sum, not a list: the exporter may run for weeks.
    total = total === undefined ? measurement : sumMeasurements('meter serve', [total, measurement]);
    lastWindowAt = new Date(Date.parse(measurement.startedAt) + measurement.durationS * 1000).toISOString();
    lastError = undefined;
    await options.onWindow?.(measurement);
  };

  /** Ends the open window and (unless final) opens the next at the same instant, so no energy falls between them. */
  const roll = async (final: boolean): Promise<void> => {
    const previous = current;
    const [ended, begun] = await Promise.allSettled([previous?.end(), final ? undefined : meter.begin(`window ${++sequence}`)]);
    current = begun.status === 'fulfilled' ? begun.value : undefined;
    if (begun.status === 'rejected') fail(begun.reason);
    if (ended.status === 'rejected') fail(ended.reason);
    else if (ended.value !== undefined) {
      try {
        await record(ended.value);
      } catch (error) {
        fail(error);
      }
    }
  };

  const stopLoop = new AbortController();
  let loop: Promise<void> | undefined;
  const runLoop = async (): Promise<void> => {
    await roll(false);
    while (!stopLoop.signal.aborted) {
      try {
        await sleep(interval, undefined, { signal: stopLoop.signal });
      } catch {
        break;
      }
      await roll(false);
    }
    await roll(true);
  };

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  app.get('/healthz', async (_request, reply) => {
    if (lastError) {
      reply.code(503);
      return { status: 'failing', windows, failedWindows, lastWindowAt, error: lastError.toJSON() };
    }
    return { status: 'ok', windows, failedWindows, lastWindowAt };
  });

  let stopping: Promise<MeterServerSummary> | undefined;
  return {
    app,
    async start(listen) {
      if (loop || stopping) throw new EcomlError('E_INTERNAL', 'the meter server was already started');
      let address: string | undefined;
      if (listen) {
        try {
          address = await app.listen({ port: listen.port, host: listen.host });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
          throw new EcomlError('E_CONFIG_INVALID', `cannot listen on ${listen.host}:${listen.port}: ${why}`, { details: { ...listen }, cause: error });
        }
      }
      loop = runLoop();
      return address;
    },
    stop() {
      stopping ??= (async () => {
        stopLoop.abort();
        await loop;
        await app.close();
        return { windows, failedWindows, ...(total === undefined ? {} : { total }) };
      })();
      return stopping;
    },
  };
}
