/**
 * What a serving session (a 'serve' run) keeps: its energy per model version, added up as the
 * meter's windows close, and a log of its requests, each with its share of a window's energy.
 * Written once per window, in one transaction, so a busy server pays one write per window.
 * @module
 */
import { EcomlError } from '../errors.js';
import { guardStore, type RunStore } from './run-store.js';

export interface ServeUsage {
  readonly model: string;
  readonly version: number;
  readonly requests: number;
  readonly failures: number;
  readonly inferences: number;
  readonly computeS: number;
  readonly joules: number;
  readonly joulesLow: number;
  readonly joulesHigh: number;
  readonly kgCo2e: number;
  /** measured or estimated (the window's method; estimated once any window was). */
  readonly method: string;
}

export interface ServeRequest {
  readonly at: string;
  readonly model: string;
  readonly version: number;
  readonly protocol: string;
  readonly requestId?: string;
  readonly status: number;
  readonly inferences: number;
  readonly queueMs: number;
  readonly computeMs: number;
  readonly joules: number;
  readonly kgCo2e: number;
  readonly method: string;
}

export interface ServeWindowRecord {
  /** The session's energy so far. */
  readonly total: unknown;
  /** This window's share per model version, to add to the session's. */
  readonly usage: readonly ServeUsage[];
  readonly requests: readonly ServeRequest[];
}

/** Requests kept per session: older ones are dropped as new ones come, so a server running for months stays bounded. */
export const DEFAULT_REQUEST_LOG_ROWS = 1_000_000;

export function recordServeWindow(store: RunStore, runId: string, window: ServeWindowRecord, keepRequests = DEFAULT_REQUEST_LOG_ROWS): void {
  guardStore(store.path, 'recordServeWindow', () =>
    store.db
      .transaction(() => {
        const upsert = store.db.prepare(
          `INSERT INTO serve_usage (run_id, model, version, requests, failures, inferences, compute_s, joules, joules_low, joules_high, kg_co2e, method)
           VALUES (@runId, @model, @version, @requests, @failures, @inferences, @computeS, @joules, @joulesLow, @joulesHigh, @kgCo2e, @method)
           ON CONFLICT (run_id, model, version) DO UPDATE SET
             requests = requests + excluded.requests, failures = failures + excluded.failures, inferences = inferences + excluded.inferences,
             compute_s = compute_s + excluded.compute_s, joules = joules + excluded.joules, joules_low = joules_low + excluded.joules_low,
             joules_high = joules_high + excluded.joules_high, kg_co2e = kg_co2e + excluded.kg_co2e,
             method = CASE WHEN method = 'estimated' OR excluded.method = 'estimated' THEN 'estimated' ELSE 'measured' END`,
        );
        for (const u of window.usage) upsert.run({ runId, ...u });
        if (window.requests.length > 0 && keepRequests > 0) {
          const last = (store.db.prepare('SELECT coalesce(max(seq), 0) FROM serve_requests WHERE run_id = ?').pluck().get(runId) as number) ?? 0;
          const insert = store.db.prepare(
            `INSERT INTO serve_requests (run_id, seq, at, model, version, protocol, request_id, status, inferences, queue_ms, compute_ms, joules, kg_co2e, method)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          );
          window.requests.forEach((r, i) =>
            insert.run(runId, last + i + 1, r.at, r.model, r.version, r.protocol, r.requestId ?? null, r.status, r.inferences, r.queueMs, r.computeMs, r.joules, r.kgCo2e, r.method),
          );
          const newest = last + window.requests.length;
          if (newest > keepRequests) store.db.prepare('DELETE FROM serve_requests WHERE run_id = ? AND seq <= ?').run(runId, newest - keepRequests);
        }
        store.recordProgress(runId, window.total);
      })
      .immediate(),
  );
}

interface UsageRow {
  model: string;
  version: number;
  requests: number;
  failures: number;
  inferences: number;
  compute_s: number;
  joules: number;
  joules_low: number;
  joules_high: number;
  kg_co2e: number;
  method: string;
}

export function serveUsage(store: RunStore, runId: string): readonly ServeUsage[] {
  return guardStore(store.path, 'serveUsage', () =>
    (store.db.prepare('SELECT * FROM serve_usage WHERE run_id = ? ORDER BY model, version').all(runId) as UsageRow[]).map((r) => ({
      model: r.model,
      version: r.version,
      requests: r.requests,
      failures: r.failures,
      inferences: r.inferences,
      computeS: r.compute_s,
      joules: r.joules,
      joulesLow: r.joules_low,
      joulesHigh: r.joules_high,
      kgCo2e: r.kg_co2e,
      method: r.method,
    })),
  );
}

interface RequestRow {
  at: string;
  model: string;
  version: number;
  protocol: string;
  request_id: string | null;
  status: number;
  inferences: number;
  queue_ms: number;
  compute_ms: number;
  joules: number;
  kg_co2e: number;
  method: string;
}

/** The session's logged requests, newest first. */
export function serveRequests(store: RunStore, runId: string, options: { readonly limit?: number } = {}): readonly ServeRequest[] {
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1) throw new EcomlError('E_CONFIG_INVALID', `limit must be a positive integer, got ${limit}`, { details: { limit } });
  return guardStore(store.path, 'serveRequests', () =>
    (store.db.prepare('SELECT * FROM serve_requests WHERE run_id = ? ORDER BY seq DESC LIMIT ?').all(runId, limit) as RequestRow[]).map((r) => ({
      at: r.at,
      model: r.model,
      version: r.version,
      protocol: r.protocol,
      ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      status: r.status,
      inferences: r.inferences,
      queueMs: r.queue_ms,
      computeMs: r.compute_ms,
      joules: r.joules,
      kgCo2e: r.kg_co2e,
      method: r.method,
    })),
  );
}

/** How many requests the session logged (the log keeps the newest DEFAULT_REQUEST_LOG_ROWS). */
export function serveRequestCount(store: RunStore, runId: string): number {
  return guardStore(store.path, 'serveRequestCount', () => store.db.prepare('SELECT count(*) FROM serve_requests WHERE run_id = ?').pluck().get(runId) as number);
}
