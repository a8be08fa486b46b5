/**
 * Adam's update fused into one pass over each weight, its two moments and its gradient, run in
 * place by a small WebAssembly SIMD kernel. In the training graph the same update is a dozen
 * element-wise ONNX ops, each streaming the whole tensor through a fresh buffer, and three
 * outputs copied back into new JavaScript arrays: for a 44M-weight dense kernel that was most of a
 * step. The kernel does the graph's float32 operations in the graph's order (WebAssembly SIMD has
 * no FMA to reorder them), so from the same gradient its result is bit-identical to the graph's.
 *
 * The weights and moments live in the kernel's linear memory, and the training session reads the
 * weights from there as its inputs.
 * @module
 */

/** The per-step float32 scalars of Adam's update (the graph form is in OnnxOptimizer's adam). */
export interface AdamScalars {
  readonly beta1: number;
  readonly oneMinusBeta1: number;
  readonly beta2: number;
  readonly oneMinusBeta2: number;
  /** −lr·√(1 − β2^t)/(1 − β1^t), in float32 as the graph computes it. */
  readonly negAlpha: number;
  /** ε·√(1 − β2^t), in float32 as the graph computes it. */
  readonly epsilonHat: number;
  /** AdamW's lr·weightDecay; undefined for Adam. */
  readonly decay?: number;
}

const PAGE = 65536;
/** WebAssembly's 32-bit memory: 65,536 pages of 64 KiB. */
const MAX_PAGES = 65536;
const LANES = 4;

// The WebAssembly binary encoding, only what the kernels need.
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const utf8 = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, depth],
  brIf: (depth: number) => [0x0d, depth],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  // SIMD: the 0xfd prefix, then the opcode as unsigned LEB128; memory access takes a 16-byte alignment hint and an offset.
  load: (offset = 0) => [0xfd, 0x00, 4, ...uleb(offset)],
  store: (offset = 0) => [0xfd, 0x0b, 4, ...uleb(offset)],
  splat: [0xfd, 0x13],
  sqrt: [0xfd, 0xe3, 0x01],
  add: [0xfd, 0xe4, 0x01],
  sub: [0xfd, 0xe5, 0x01],
  mul: [0xfd, 0xe6, 0x01],
  div: [0xfd, 0xe7, 0x01],
};

const SCALARS = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'negAlpha', 'epsilonHat', 'decay'] as const;
type Scalar = (typeof SCALARS)[number];

/** A function's locals by name: its parameters first, in order, then the rest. */
class Frame {
  private readonly index = new Map<string, number>();
  private readonly extra: number[] = [];

  constructor(
    readonly params: readonly (readonly [string, number])[],
    locals: readonly (readonly [string, number])[],
  ) {
    for (const [name] of params) this.index.set(name, this.index.size);
    for (const [name, type] of locals) {
      this.index.set(name, this.index.size);
      this.extra.push(type);
    }
  }

  at(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no local ${name}`);
    return i;
  }

  get = (name: string): number[] => op.get(this.at(name));
  set = (name: string): number[] => op.set(this.at(name));
  tee = (name: string): number[] => op.tee(this.at(name));

  body(code: readonly number[]): number[] {
    const bytes = [...vec(this.extra.map((type) => [1, type])), ...code, ...op.end];
    return [...uleb(bytes.length), ...bytes];
  }

  type(): number[] {
    return [0x60, ...vec(this.params.map(([, type]) => [type])), 0];
  }
}

const scalarParams = (decay: boolean): [string, number][] => SCALARS.filter((s) => decay || s !== 'decay').map((s) => [s, F32]);
const splatLocals: [string, number][] = SCALARS.map((s) => [`${s}4`, V128]);

function splats(f: Frame, decay: boolean): number[] {
  return SCALARS.filter((s) => decay || s !== 'decay').flatMap((s) => [...f.get(s), ...op.splat, ...f.set(`${s}4`)]);
}

/**
 * The update of one 4-lane vector whose gradient is in local `g`, at byte address `wa`/`ma`/`va`
 * plus `offset`, in the graph's order: m' = m·β1 + g·(1 − β1); v' = v·β2 + (g·(1 − β2))·g;
 * AdamW's w − w·(lr·wd); w' = (m'/(√v' + ε̂))·(−α) + w.
 */
function adamVector(f: Frame, decay: boolean, offset: number): number[] {
  const s = (name: Scalar): number[] => f.get(`${name}4`);
  return [
    ...f.get('ma'), ...f.get('ma'), ...op.load(offset), ...s('beta1'), ...op.mul, ...f.get('g'), ...s('oneMinusBeta1'), ...op.mul, ...op.add,
    ...f.tee('m2'), ...op.store(offset),
    ...f.get('va'), ...f.get('va'), ...op.load(offset), ...s('beta2'), ...op.mul, ...f.get('g'), ...s('oneMinusBeta2'), ...op.mul, ...f.get('g'), ...op.mul, ...op.add,
    ...f.tee('v2'), ...op.store(offset),
    ...f.get('wa'), ...op.load(offset), ...f.set('w'),
    ...(decay ? [...f.get('w'), ...f.get('w'), ...s('decay'), ...op.mul, ...op.sub, ...f.set('w')] : []),
    ...f.get('wa'),
    ...f.get('m2'), ...f.get('v2'), ...op.sqrt, ...s('epsilonHat'), ...op.add, ...op.div, ...s('negAlpha'), ...op.mul, ...f.get('w'), ...op.add,
    ...op.store(offset),
  ];
}

/** `adam(w, m, v, g, n, …scalars)`: n elements (a multiple of 4) at byte addresses w, m, v, g. */
function elementwise(decay: boolean): Frame & { code: number[] } {
  const f = new Frame(
    [['wa', I32], ['ma', I32], ['va', I32], ['ga', I32], ['n', I32], ...scalarParams(decay)],
    [['end', I32], ...splatLocals, ['g', V128], ['m2', V128], ['v2', V128], ['w', V128]],
  );
  const advance = (name: string): number[] => [...f.get(name), ...op.i32Const(16), ...op.i32Add, ...f.set(name)];
  const code = [
    ...f.get('ga'), ...f.get('n'), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...f.set('end'),
    ...splats(f, decay),
    ...op.block, ...op.loop,
    ...f.get('ga'), ...f.get('end'), ...op.i32GeU, ...op.brIf(1),
    ...f.get('ga'), ...op.load(), ...f.set('g'),
    ...adamVector(f, decay, 0),
    ...advance('wa'), ...advance('ma'), ...advance('va'), ...advance('ga'),
    ...op.br(0),
    ...op.end, ...op.end,
  ];
  return Object.assign(f, { code });
}

const KERNELS = { adam: elementwise(false), adamw: elementwise(true) };
type KernelName = keyof typeof KERNELS;

function kernelModule(): Uint8Array {
  const kernels = Object.entries(KERNELS);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(kernels.map(([, k]) => k.type()))),
    // The host's memory, imported with a minimum of 0 pages: it sets its own size.
    ...section(2, vec([[...utf8('env'), ...utf8('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec(kernels.map((_, i) => [i]))),
    ...section(7, vec(kernels.map(([name], i) => [...utf8(name), 0x00, i]))),
    ...section(10, vec(kernels.map(([, k]) => k.body(k.code)))),
  ]);
}

/** The part of the WebAssembly API this file uses (the project's type libraries leave it out with the DOM's). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;

type Kernel = (...args: number[]) => void;

/** Bytes rounded up to whole 4-lane vectors. */
const padded = (n: number): number => Math.ceil(n / LANES) * LANES * 4;

/** Bytes for parameters of these element counts, their moments, and the largest one's gradient. */
const bytesFor = (sizes: readonly number[]): number => sizes.reduce((sum, n) => sum + 3 * padded(n), 0) + padded(Math.max(0, ...sizes));

interface Slot {
  readonly w: number;
  readonly m: number;
  readonly v: number;
  readonly n: number;
}

/**
 * The weights and Adam moments of a model's trained parameters, in one block of kernel memory, and
 * the update that runs on them, with the gradient copied into scratch space after them. The
 * memory never grows, so views (`weight`, `moment`) stay valid.
 */
export class FusedAdam {
  private readonly slots: Slot[] = [];
  private readonly scratch: number;
  private readonly memory: WasmMemory;
  private readonly kernels: Record<KernelName, Kernel>;

  /** For parameters of these element counts; they must fit (see fits). */
  constructor(sizes: readonly number[]) {
    if (!FusedAdam.fits(sizes)) throw new RangeError(`${sizes.length} parameters of ${sizes.reduce((a, b) => a + b, 0)} elements, their moments and a gradient do not fit in 4 GiB`);
    let at = 0;
    for (const n of sizes) {
      this.slots.push({ w: at, m: at + padded(n), v: at + 2 * padded(n), n });
      at += 3 * padded(n);
    }
    this.scratch = at;
    this.memory = new wasm.Memory({ initial: Math.ceil(bytesFor(sizes) / PAGE) });
    compiled ??= new wasm.Module(kernelModule());
    this.kernels = new wasm.Instance(compiled, { env: { memory: this.memory } }).exports as Record<KernelName, Kernel>;
  }

  /** Whether parameters of these element counts, their moments and a gradient fit in WebAssembly's 4 GiB. */
  static fits(sizes: readonly number[]): boolean {
    return bytesFor(sizes) <= MAX_PAGES * PAGE;
  }

  private view(offset: number, n: number): Float32Array<ArrayBuffer> {
    return new Float32Array(this.memory.buffer, offset, n);
  }

  weight(i: number): Float32Array<ArrayBuffer> {
    const s = this.slot(i);
    return this.view(s.w, s.n);
  }

  /** Adam's first (slot 'm') or second (slot 'v') moment of parameter i. */
  moment(i: number, slot: 'm' | 'v'): Float32Array<ArrayBuffer> {
    const s = this.slot(i);
    return this.view(slot === 'm' ? s.m : s.v, s.n);
  }

  /** One step on parameter i, in place, from its gradient. */
  update(i: number, gradient: Float32Array, s: AdamScalars): void {
    const slot = this.slot(i);
    if (gradient.length !== slot.n) throw new RangeError(`parameter ${i} has ${slot.n} elements, its gradient ${gradient.length}`);
    this.view(this.scratch, slot.n).set(gradient);
    // The last vector's spare lanes may hold an earlier, larger gradient: they update only padding, but keep them zero.
    this.view(this.scratch + slot.n * 4, padded(slot.n) / 4 - slot.n).fill(0);
    this.kernels[s.decay === undefined ? 'adam' : 'adamw'](slot.w, slot.m, slot.v, this.scratch, padded(slot.n) / 4, ...scalars(s));
  }

  private slot(i: number): Slot {
    const s = this.slots[i];
    if (s === undefined) throw new RangeError(`no parameter ${i}: there are ${this.slots.length}`);
    return s;
  }
}

function scalars(s: AdamScalars): number[] {
  const all = [s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.negAlpha, s.epsilonHat];
  return s.decay === undefined ? all : [...all, s.decay];
}
