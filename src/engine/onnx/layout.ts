/**
 * Weight layout conversion at the engine boundary: tfjs conv kernels are HWIO [kh, kw, in, out],
 * ONNX Conv weights OIHW [out, in, kh, kw]. A dense kernel after a flattened image has its rows
 * (and a normalization there its per-feature vectors) in HWC order in tfjs and CHW order in our
 * graphs (which flatten NCHW without a transpose).
 * A conv1d kernel [k, in, out] is an HWIO kernel of height 1, run as a Conv over [n, in, 1, steps].
 * @module
 */

/** The number of elements in a tensor of this shape. */
export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A conv kernel's HWIO shape: conv1d's [k, in, out] as [1, k, in, out]. */
export function hwioShape(shape: readonly number[]): [number, number, number, number] {
  return (shape.length === 3 ? [1, ...shape] : [...shape]) as [number, number, number, number];
}

/** A weight's (or optimizer slot's) ONNX shape: conv kernels OIHW (conv1d's [k, in, out] as [out, in, 1, k]), the rest as tfjs's. */
export function onnxShape(p: { readonly shape: readonly number[]; readonly hwio: boolean }): number[] {
  const [kh, kw, cin, cout] = hwioShape(p.shape);
  return p.hwio ? [cout, cin, kh, kw] : [...p.shape];
}

/** HWIO → OIHW; `shape` is the HWIO shape. */
export function hwioToOihw(src: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o] as number;
  return out;
}

/** OIHW → HWIO; `shape` is the HWIO shape. */
export function oihwToHwio(src: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((y * kw + x) * ci + i) * co + o] = src[((o * ci + i) * kh + y) * kw + x] as number;
  return out;
}

/** Dense kernel [h·w·c, units] (or a vector [h·w·c], units 1): rows in HWC order → CHW order (`toChw`) or back. */
export function permuteRows(src: Float32Array, [h, w, c]: readonly [number, number, number], units: number, toChw: boolean): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const hwc = ((y * w + x) * c + k) * units;
        const chw = ((k * h + y) * w + x) * units;
        out.set(src.subarray(toChw ? hwc : chw, (toChw ? hwc : chw) + units), toChw ? chw : hwc);
      }
  return out;
}

/** tfjs layout → ONNX layout for one weight (or optimizer slot) of `shape` (tfjs shape). */
export function toOnnxLayout(values: Float32Array, shape: readonly number[], hwio: boolean, chwRows: readonly [number, number, number] | undefined): Float32Array {
  if (hwio) return hwioToOihw(values, hwioShape(shape));
  if (chwRows !== undefined) return permuteRows(values, chwRows, shape[1] ?? 1, true);
  return Float32Array.from(values);
}

/** ONNX layout → tfjs layout, the inverse of `toOnnxLayout`. */
export function toTfjsLayout(values: Float32Array, shape: readonly number[], hwio: boolean, chwRows: readonly [number, number, number] | undefined): Float32Array {
  if (hwio) return oihwToHwio(values, hwioShape(shape));
  if (chwRows !== undefined) return permuteRows(values, chwRows, shape[1] ?? 1, false);
  return Float32Array.from(values);
}
