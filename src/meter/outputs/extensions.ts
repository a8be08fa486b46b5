/**
 * Figures derived from the optional parts of a Measurement, in the units the outputs export.
 * @module
 */

import { JOULES_PER_KWH } from '../emissions.js';
import type { Measurement } from '../types.js';

/** Heat released over the window in joules (all the devices' electrical energy), when the measurement reports heat. */
export function heatJoulesOf(measurement: Measurement): number | undefined {
  return measurement.heat === undefined ? undefined : measurement.heat.kwh * JOULES_PER_KWH;
}
