import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodeIdx, loadPredictInput, type Preprocessing } from '../../src/data/index.js';
import { expectError, fixture, tempDir } from './helpers.js';

const dir = tempDir();
const none: Preprocessing = { kind: 'none' };
const byteScale: Preprocessing = { kind: 'scale', scale: 1 / 255 };

/** A w×h PNG whose pixel i has RGBA rgba(i). */
function png(w: number, h: number, rgba: (i: number) => [number, number, number, number]): Buffer {
  const image = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) image.data.set(rgba(i), 4 * i);
  return PNG.sync.write(image);
}

describe('IDX prediction input', () => {
  const images = fixture(dir, 'images.idx', encodeIdx('ubyte', [2, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4]));

  it('reads images, with labels from a paired file', () => {
    const input = loadPredictInput(images, { featureShape: [2, 2, 1], preprocessing: byteScale });
    expect(input.n).toBe(2);
    expect(input.labels).toBeUndefined();
    expect(Array.from(input.x.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    const labels = fixture(dir, 'labels.idx', encodeIdx('ubyte', [2], [1, 0]));
    expect(Array.from(loadPredictInput(images, { featureShape: [4], preprocessing: none, labelsPath: labels }).labels ?? [])).toEqual([1, 0]);
  });

  it('rejects images of the wrong size', () => {
    const err = expectError(() => loadPredictInput(images, { featureShape: [28, 28, 1], preprocessing: none }), 'E_SHAPE_MISMATCH');
    expect(err.message).toMatch(/4 features per sample; the model expects 784/);
  });
});

describe('CSV prediction input', () => {
  it('reads features, and labels when the label column is there', () => {
    const withLabels = fixture(dir, 'in.csv', 'a,b,y\n2,4,1\n6,8,0\n');
    const standardize: Preprocessing = { kind: 'standardize', mean: [2, 4], std: [2, 4] };
    const input = loadPredictInput(withLabels, { featureShape: [2], preprocessing: standardize, labelColumn: 'y' });
    expect(Array.from(input.x)).toEqual([0, 0, 2, 1]);
    expect(Array.from(input.labels ?? [])).toEqual([1, 0]);
    const named = fixture(dir, 'named.csv', 'a,b,y\n2,4,dog\n');
    expect(Array.from(loadPredictInput(named, { featureShape: [2], preprocessing: none, labelColumn: 'y', classNames: ['cat', 'dog'] }).labels ?? [])).toEqual([1]);
    const without = fixture(dir, 'nolabels.csv', 'a,b\n2,4\n');
    expect(loadPredictInput(without, { featureShape: [2], preprocessing: none, labelColumn: 'y' }).labels).toBeUndefined();
    expectError(() => loadPredictInput(without, { featureShape: [2], preprocessing: none, labelsPath: without }), 'E_CONFIG_INVALID');
  });

  it('rejects a feature count the model does not take', () => {
    const file = fixture(dir, 'three.csv', 'a,b,c\n1,2,3\n');
    expect(expectError(() => loadPredictInput(file, { featureShape: [2], preprocessing: none }), 'E_SHAPE_MISMATCH').details).toEqual({ file, expected: 2, found: 3 });
  });
});

describe('PNG prediction input', () => {
  it('converts one image to grayscale, alpha over black', () => {
    const file = fixture(dir, 'digit.png', png(2, 2, (i) => [[255, 255, 255, 255], [255, 0, 0, 255], [0, 0, 255, 255], [255, 255, 255, 0]][i] as [number, number, number, number]));
    const input = loadPredictInput(file, { featureShape: [2, 2, 1], preprocessing: none });
    expect(input.n).toBe(1);
    expect(Array.from(input.x)).toEqual([255, 76, 29, 0]);
  });

  it('reads a directory of PNGs in name order, and accepts a flat sample shape', () => {
    const pngs = join(dir, 'pngs');
    mkdirSync(pngs);
    fixture(pngs, 'b.png', png(3, 2, () => [200, 200, 200, 255]));
    fixture(pngs, 'a.png', png(3, 2, (i) => [i, i, i, 255]));
    fixture(pngs, 'notes.txt', 'ignored');
    const input = loadPredictInput(pngs, { featureShape: [6], preprocessing: byteScale });
    expect(input.n).toBe(2);
    expect(Array.from(input.x.subarray(0, 6))).toEqual([0, 1, 2, 3, 4, 5].map((v) => Math.fround(v / 255)));
    expect(input.x[6]).toBeCloseTo(200 / 255);
  });

  it('rejects an image of the wrong size, a colour model, a corrupt file and an empty directory', () => {
    const file = fixture(dir, 'big.png', png(4, 3, () => [0, 0, 0, 255]));
    const err = expectError(() => loadPredictInput(file, { featureShape: [28, 28, 1], preprocessing: none }), 'E_SHAPE_MISMATCH');
    expect(err.message).toBe(`PNG "${file}" is 4×3 (width×height); the model expects 28×28`);
    expectError(() => loadPredictInput(file, { featureShape: [3, 4, 3], preprocessing: none }), 'E_SHAPE_MISMATCH');
    const corrupt = fixture(dir, 'corrupt.png', Buffer.concat([png(2, 2, () => [0, 0, 0, 255]).subarray(0, 30)]));
    expect(expectError(() => loadPredictInput(corrupt, { featureShape: [2, 2], preprocessing: none }), 'E_DATA_MALFORMED').message).toContain(corrupt);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expectError(() => loadPredictInput(empty, { featureShape: [2, 2], preprocessing: none }), 'E_DATA_MALFORMED');
  });
});

describe('JSON prediction input', () => {
  it('reads nested arrays and TF Serving instances, flattened', () => {
    const nested = fixture(dir, 'nested.json', JSON.stringify([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]));
    expect(Array.from(loadPredictInput(nested, { featureShape: [2, 2, 1], preprocessing: none }).x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const serving = fixture(dir, 'serving.txt', ' {"instances": [[2, 4]]}');
    const input = loadPredictInput(serving, { featureShape: [2], preprocessing: { kind: 'scale', scale: 0.5 } });
    expect(input).toMatchObject({ n: 1 });
    expect(Array.from(input.x)).toEqual([1, 2]);
  });

  it('rejects wrong counts, non-numbers and bad syntax', () => {
    const short = fixture(dir, 'short.json', '[[1, 2, 3], [1, 2]]');
    const err = expectError(() => loadPredictInput(short, { featureShape: [3], preprocessing: none }), 'E_SHAPE_MISMATCH');
    expect(err.message).toMatch(/instances\[1\] has 2 numbers; the model expects 3/);
    const text = fixture(dir, 'text.json', '[[1, "2"]]');
    expect(expectError(() => loadPredictInput(text, { featureShape: [2], preprocessing: none }), 'E_DATA_MALFORMED').message).toMatch(/at instances\[0\]\[1\]: expected a number, found "2"/);
    const broken = fixture(dir, 'broken.json', '[[1, 2],\n [3 4]]');
    const syntax = expectError(() => loadPredictInput(broken, { featureShape: [2], preprocessing: none }), 'E_DATA_MALFORMED');
    expect(syntax.message).toContain(`JSON file "${broken}" is malformed at line 2, column 5:`);
    expect(syntax.details).toEqual({ file: broken, line: 2, column: 5 });
    const cut = fixture(dir, 'cut.json', '[[1, 2],');
    expect(expectError(() => loadPredictInput(cut, { featureShape: [2], preprocessing: none }), 'E_DATA_MALFORMED').details).toEqual({ file: cut, line: 1, column: 9 });
    const shapeless = fixture(dir, 'shapeless.json', '{"inputs": [1]}');
    expectError(() => loadPredictInput(shapeless, { featureShape: [1], preprocessing: none }), 'E_DATA_MALFORMED');
  });

  it('reports a missing path as E_FILE_NOT_FOUND', () => {
    expectError(() => loadPredictInput(join(dir, 'missing.json'), { featureShape: [1], preprocessing: none }), 'E_FILE_NOT_FOUND');
  });
});

describe('content sniffing against the name', () => {
  it('a text file named .png is reported as not a PNG, not read as a CSV', () => {
    const fake = fixture(dir, 'x.png', 'hello\n');
    const err = expectError(() => loadPredictInput(fake, { featureShape: [1], preprocessing: none }), 'E_DATA_MALFORMED');
    expect(err.message).toBe(`"${fake}" is named as a PNG but holds text`);
    const folder = join(dir, 'fake-pngs');
    mkdirSync(folder);
    fixture(folder, 'a.png', '1,2,3,4\n');
    expect(expectError(() => loadPredictInput(folder, { featureShape: [2, 2], preprocessing: none }), 'E_DATA_MALFORMED').message).toBe(
      `"${join(folder, 'a.png')}" is named as a PNG but holds text`,
    );
  });

  it('an IDX-named file that is not IDX, and bytes of no known format, are said to be so', () => {
    const text = fixture(dir, 'train-images-idx3-ubyte', 'a,b\n1,2\n');
    expect(expectError(() => loadPredictInput(text, { featureShape: [2], preprocessing: none }), 'E_DATA_MALFORMED').message).toBe(`"${text}" is named as an IDX file but holds text`);
    const binary = fixture(dir, 'blob.bin', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x01]));
    expect(expectError(() => loadPredictInput(binary, { featureShape: [2], preprocessing: none }), 'E_DATA_MALFORMED').message).toBe(
      `"${binary}" holds binary data of no format ecoml reads (IDX, CSV, PNG or JSON)`,
    );
  });

  it("a truncated PNG names the chunk and byte where it ends, not the decoder's internals", () => {
    const whole = png(2, 2, () => [10, 20, 30, 255]);
    const cut = fixture(dir, 'cut.png', whole.subarray(0, 45));
    const err = expectError(() => loadPredictInput(cut, { featureShape: [2, 2], preprocessing: none }), 'E_DATA_MALFORMED');
    expect(err.message).toMatch(new RegExp(`^PNG file "${cut}" is truncated: chunk IDAT at byte 33 declares \\d+ bytes of data \\(the file ends at byte 45\\)$`));
    expect(err.details).toMatchObject({ file: cut, offset: 33, size: 45 });
    const headless = fixture(dir, 'headless.png', whole.subarray(0, whole.length - 12));
    expect(expectError(() => loadPredictInput(headless, { featureShape: [2, 2], preprocessing: none }), 'E_DATA_MALFORMED').message).toMatch(/is truncated: a chunk header is due at byte \d+, but there is no IEND chunk/);
  });

  it('a symbolic link loop as input is E_PATH_INVALID naming it', () => {
    const loop = join(dir, 'loop-in');
    symlinkSync(loop, loop);
    const err = expectError(() => loadPredictInput(loop, { featureShape: [1], preprocessing: none }), 'E_PATH_INVALID');
    expect(err.message).toBe(`input file: ${loop} is a symbolic link loop (too many levels of symbolic links)`);
  });
});
