/**
 * Training progress on stderr: a redrawn bar per epoch on a TTY, one plain line per epoch otherwise.
 * @module
 */
import type { Writable } from 'node:stream';
import type { BatchProgress, EpochRecord, Forecast } from '../train/index.js';
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
