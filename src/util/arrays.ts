/** Small numeric helpers over typed arrays. @module */

/** The largest |a[i] − b[i]|; Infinity when the lengths differ, so no tolerance passes it. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}
