/**
 * Keras EarlyStopping semantics as a pure state machine: an epoch improves when the monitored
 * value beats the best so far by more than minDelta; training stops once `patience` epochs in a
 * row have not improved.
 * @module
 */

export interface EarlyStoppingConfig {
  readonly monitor: string;
  readonly patience: number;
  readonly minDelta: number;
}

export interface EarlyStoppingState {
  readonly best: number | undefined;
  readonly bestEpoch: number | undefined;
  readonly wait: number;
  readonly stop: boolean;
}

export const INITIAL_EARLY_STOPPING: EarlyStoppingState = Object.freeze({ best: undefined, bestEpoch: undefined, wait: 0, stop: false });

/** Losses are minimised, everything else (accuracy) maximised, as Keras' mode='auto'. */
export function monitorDirection(monitor: string): 'min' | 'max' {
  return monitor.endsWith('loss') ? 'min' : 'max';
}

export function stepEarlyStopping(
  config: EarlyStoppingConfig,
  state: EarlyStoppingState,
  epoch: number,
  value: number,
): EarlyStoppingState {
  const sign = monitorDirection(config.monitor) === 'min' ? 1 : -1;
  const improved = state.best === undefined || sign * (state.best - value) > config.minDelta;
  if (improved) return { best: value, bestEpoch: epoch, wait: 0, stop: false };
  const wait = state.wait + 1;
  return { ...state, wait, stop: wait >= config.patience };
}
