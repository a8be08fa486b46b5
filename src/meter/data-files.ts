/**
 * The shipped tables, found relative to this module so the same URLs work from src/meter (tsx,
 * vitest) and dist/meter (published package): both sit two levels below the package root's data/.
 * @module
 */

export const CPU_TDP_CSV = new URL('../../data/cpu-tdp.csv', import.meta.url);
export const CARBON_INTENSITY_CSV = new URL('../../data/carbon-intensity-by-country.csv', import.meta.url);
