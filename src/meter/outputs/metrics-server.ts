/**
 * A Prometheus exporter for the meter: a loop that closes one window and opens the next every
 * interval, feeding each to the metrics, and a fastify app serving `GET /metrics` and `GET /healthz`.
 * @module
 */

import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { EcomlError } from '../../errors.js';
import type { Meter } from '../meter.js';
import type { Measurement } from '../types.js';
import { registerMeterMetrics, type MeterMetrics } from './prometheus.js';
import { checkInterval, startWindowLoop, type WindowLoop, type WindowLoopSummary } from './window-loop.js';

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

export type MeterServerSummary = WindowLoopSummary;

export interface MeterServer {
  readonly app: FastifyInstance;
  /** Starts the window loop and, given listen options, the HTTP listener; returns the listening address. */
  start(listen?: ListenOptions): Promise<string | undefined>;
  /** Stops the loop (observing the last, partial window), closes the server and returns the totals; idempotent. */
  stop(): Promise<MeterServerSummary>;
}

export function buildMeterServer(options: MeterServerOptions): MeterServer {
  const { meter, registry, interval } = options;
  checkInterval(interval);
  const metrics = options.metrics ?? registerMeterMetrics(registry);
  const app = Fastify({ logger: false });
  let loop: WindowLoop | undefined;

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  app.get('/healthz', async (_request, reply) => {
    const state = { windows: loop?.windows ?? 0, failedWindows: loop?.failedWindows ?? 0, lastWindowAt: loop?.lastWindowAt };
    const lastError = loop?.lastError;
    if (lastError) {
      reply.code(503);
      return { status: 'failing', ...state, error: lastError.toJSON() };
    }
    return { status: 'ok', ...state };
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
          throw listenFailure(listen, error);
        }
      }
      loop = startWindowLoop({
        meter,
        interval,
        label: 'meter serve',
        onWindow: async (measurement) => {
          metrics.observe(measurement);
          await options.onWindow?.(measurement);
        },
        ...(options.onError ? { onError: options.onError } : {}),
      });
      return address;
    },
    stop() {
      stopping ??= (async () => {
        const summary = (await loop?.stop()) ?? { windows: 0, failedWindows: 0 };
        await app.close();
        return summary;
      })();
      return stopping;
    },
  };
}

/** A listen failure as one coded error naming the address (a port in use, no permission). */
export function listenFailure(listen: ListenOptions, error: unknown): EcomlError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
  return new EcomlError('E_CONFIG_INVALID', `cannot listen on ${listen.host}:${listen.port}: ${why}`, { details: { ...listen }, cause: error });
}
