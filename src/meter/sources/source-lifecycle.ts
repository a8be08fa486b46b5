/**
 * The open/probe/close bookkeeping every energy source shares: open once, remember why not, close once.
 * @module
 */

import { EcomlError } from '../../errors.js';
import type { ProbeResult } from '../energy-source.js';

export type OpenOutcome<S> = { readonly available: true; readonly state: S } | { readonly available: false; readonly reason: string };

export interface SourceLifecycle<S> {
  probe(): Promise<ProbeResult>;
  /** The open state; throws E_METER_UNAVAILABLE when the source is unavailable or closed. */
  opened(): Promise<S>;
  close(): Promise<void>;
}

export function createSourceLifecycle<S>(
  name: string,
  open: () => Promise<OpenOutcome<S>>,
  release: (state: S) => Promise<void> | void = () => undefined,
): SourceLifecycle<S> {
  let opening: Promise<OpenOutcome<S>> | undefined;
  let closing: Promise<void> | undefined;

  const outcome = (): Promise<OpenOutcome<S>> => {
    // An unexpected throw while opening still means "cannot be read": keep the reason, never crash the meter.
    opening ??= open().catch((error: unknown) => ({
      available: false as const,
      reason: error instanceof Error ? error.message : String(error),
    }));
    return opening;
  };

  return {
    async probe() {
      if (closing) return { available: false, reason: `${name} is closed` };
      const result = await outcome();
      return result.available ? { available: true } : { available: false, reason: result.reason };
    },
    async opened() {
      if (closing) throw new EcomlError('E_METER_UNAVAILABLE', `${name} is closed`, { details: { source: name } });
      const result = await outcome();
      if (!result.available) {
        throw new EcomlError('E_METER_UNAVAILABLE', `${name} is unavailable: ${result.reason}`, {
          details: { source: name, reason: result.reason },
        });
      }
      return result.state;
    },
    close() {
      closing ??= (async () => {
        // Only a source that was opened holds anything to release.
        if (!opening) return;
        const result = await opening;
        if (result.available) await release(result.state);
      })();
      return closing;
    },
  };
}
