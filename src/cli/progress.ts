/**
 * Training progress on stderr: a redrawn bar per epoch on a TTY, one plain line per epoch otherwise.
 * @module
 */
import type { Writable } from 'node:stream';
import type { BatchProgress, EpochRecord, Forecast } from '../train/index.js';
import type { CarbonWait } from '../workflows/carbon-start.js';
import { formatEpochLine, formatForecast } from './format.js';

export interface ProgressReporter {
  onBatch(progress: BatchProgress): void;
  onEpochEnd(record: EpochRecord, epochs: number): void;
  onForecast(forecast: Forecast): void;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function createProgress(stream: Writable, isTTY: boolean, label = ''): ProgressReporter {
  let lastDraw = 0;
  let epochStarted = performance.now();
  const prefix = label ? `${label} ` : '';
  return {
    onBatch(p) {
      if (p.batch === 1) epochStarted = performance.now();
      if (!isTTY) return;
      const now = performance.now();
      if (now - lastDraw < REDRAW_MS && p.batch !== p.batches) return;
      lastDraw = now;
      const done = Math.round((p.batch / p.batches) * BAR_WIDTH);
      const elapsed = (now - epochStarted) / 1000;
      const eta = (elapsed / p.batch) * (p.batches - p.batch);
      stream.write(
        `\r${prefix}epoch ${p.epoch}/${p.epochs} [${'='.repeat(done)}${' '.repeat(BAR_WIDTH - done)}] ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} eta ${eta.toFixed(0)}s\x1b[K`,
      );
    },
    onEpochEnd(record, epochs) {
      stream.write(`${isTTY ? '\r\x1b[K' : ''}${prefix}${formatEpochLine(record, epochs)}\n`);
    },
    onForecast(forecast) {
      stream.write(`${prefix}${formatForecast(forecast)}\n`);
    },
  };
}

export interface WaitReporter {
  onWait(wait: CarbonWait): void;
  onTick(remainingS: number, currentGPerKwh: number): void;
  onWarning(line: string): void;
}

/** A carbon-aware start's wait: one line when it begins, then a redrawn countdown on a TTY (the job's own progress draws over it). */
export function createWaitProgress(stream: Writable, isTTY: boolean): WaitReporter {
  let drawn = false;
  return {
    onWait(w) {
      const plan =
        w.mode === 'greenest_window'
          ? `starting at ${w.until}, where the forecast's mean over the run is ${w.targetGPerKwh.toFixed(0)} gCO2e/kWh`
          : `starting once below ${w.targetGPerKwh} gCO2e/kWh, at the latest ${w.until}`;
      stream.write(`waiting for a cleaner grid: now ${w.currentGPerKwh.toFixed(0)} gCO2e/kWh (${w.source}); ${plan}\n`);
    },
    onTick(remainingS, currentGPerKwh) {
      if (!isTTY) return;
      drawn = true;
      const h = Math.floor(remainingS / 3600);
      const m = Math.floor((remainingS % 3600) / 60);
      stream.write(`\rwaiting: ${h}h${String(m).padStart(2, '0')}m left, now ${currentGPerKwh.toFixed(0)} gCO2e/kWh\x1b[K`);
    },
    onWarning(line) {
      stream.write(`${drawn ? '\r\x1b[K' : ''}carbon-aware start: ${line}\n`);
    },
  };
}
