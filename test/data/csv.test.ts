import { describe, expect, it } from 'vitest';
import { loadCsvDataset, parseCsv } from '../../src/data/index.js';
import { expectError, fixture, tempDir } from './helpers.js';

const dir = tempDir();

function load(name: string, text: string, options: Partial<Parameters<typeof loadCsvDataset>[1]> = {}) {
  return loadCsvDataset(fixture(dir, name, text), { labelColumn: 'label', ...options });
}

function malformed(name: string, text: string, options: Partial<Parameters<typeof loadCsvDataset>[1]> = {}) {
  const file = `${dir}/${name}`;
  const err = expectError(() => load(name, text, options), 'E_DATA_MALFORMED');
  expect(err.message).toContain(file);
  expect(err.details).toMatchObject({ file });
  return err;
}

describe('CSV datasets', () => {
  it('loads features and integer labels from any column position', () => {
    const ds = load('happy.csv', 'a,label,b\n1,0,2.5\n-3,2,4e2\n.5,1,+7\n');
    expect(ds).toMatchObject({ n: 3, featureShape: [2], featureNames: ['a', 'b'], numClasses: 3 });
    expect(Array.from(ds.x)).toEqual([1, 2.5, -3, 400, 0.5, 7]);
    expect(Array.from(ds.y)).toEqual([0, 2, 1]);
    expect(ds.classNames).toBeUndefined();
    expect(ds.valueMax).toBeUndefined();
  });

  it('handles quoted fields, CRLF, a BOM, padding and blank lines', () => {
    const text = '\uFEFF"a, first","say ""hi""",label\r\n"1","2",1\r\n\r\n 3 , "4" ,0\r\n\r\n';
    const ds = load('quoted.csv', text);
    expect(ds.featureNames).toEqual(['a, first', 'say "hi"']);
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4]);
    expect(Array.from(ds.y)).toEqual([1, 0]);
    expect(parseCsv('h\n"two\nlines"\nnext\n', 'mem').records).toEqual([
      { line: 2, fields: ['two\nlines'] },
      { line: 4, fields: ['next'] },
    ]);
  });

  it('maps text labels to ids in sorted order and keeps the names', () => {
    const ds = load('names.csv', 'x,label\n1,versicolor\n2,setosa\n3,virginica\n4,setosa\n5,7\n');
    expect(ds.classNames).toEqual(['7', 'setosa', 'versicolor', 'virginica']);
    expect(Array.from(ds.y)).toEqual([2, 1, 3, 1, 0]);
    expect(ds.numClasses).toBe(4);
    const test = load('names-test.csv', 'x,label\n1,virginica\n', { classNames: ds.classNames });
    expect(Array.from(test.y)).toEqual([3]);
  });

  it('applies a limit and a declared class count', () => {
    const ds = load('limit.csv', 'x,label\n1,0\n2,1\n3,1\n', { limit: 2, numClasses: 4 });
    expect(ds).toMatchObject({ n: 2, numClasses: 4 });
  });
});

describe('malformed CSV', () => {
  it('rejects an empty file', () => {
    expect(malformed('empty.csv', '').message).toMatch(/line 1: empty file/);
    expect(malformed('blank.csv', '\n\n').message).toMatch(/empty file/);
    expect(malformed('header-only.csv', 'x,label\n').message).toMatch(/line 2: no data rows/);
  });

  it('rejects a ragged row with its line and both column counts', () => {
    const err = malformed('ragged.csv', 'a,b,label\n1,2,0\n1,2\n');
    expect(err.message).toMatch(/line 3: ragged row: expected 3 columns \(as in the header\), found 2/);
    expect(err.details).toMatchObject({ line: 3 });
  });

  it('rejects a non-numeric cell naming line, column and text', () => {
    const err = malformed('nan.csv', 'a,b,label\n1,2,0\n3,abc,1\n');
    expect(err.message).toMatch(/line 3, column 2 \("b"\): non-numeric value "abc"/);
    expect(err.details).toMatchObject({ line: 3, column: 2 });
    expect(malformed('empty-cell.csv', 'a,b,label\n1,,0\n').message).toMatch(/column 2 \("b"\): non-numeric value ""/);
    expect(malformed('hex.csv', 'a,label\n0x1f,0\n').message).toMatch(/non-numeric value "0x1f"/);
  });

  it('rejects a missing label column, listing the header', () => {
    const err = malformed('nolabel.csv', 'a,b,class\n1,2,0\n');
    expect(err.message).toMatch(/label column "label" is not in the header \(columns: a, b, class\)/);
    expect(err.details).toMatchObject({ line: 1, header: ['a', 'b', 'class'] });
  });

  it('rejects labels out of range, negative, unknown or empty', () => {
    const err = malformed('range.csv', 'a,label\n1,0\n2,3\n', { numClasses: 3 });
    expect(err.message).toMatch(/line 3, column 2 \("label"\): label out of range: "3" is class 3, numClasses is 3/);
    expect(malformed('negative.csv', 'a,label\n1,-1\n').message).toMatch(/line 2.*label out of range: -1/);
    expect(malformed('unknown.csv', 'a,label\n1,cat\n', { classNames: ['dog'] }).message).toMatch(/label "cat" is not one of the classes dog/);
    expect(malformed('nolab.csv', 'a,label\n1, \n').message).toMatch(/empty label/);
    expect(malformed('twice.csv', 'label,a,label\n1,2,3\n').message).toMatch(/column 3 \("label"\): label column "label" appears twice/);
  });

  it('rejects bad quoting with line and character column', () => {
    const open = malformed('open.csv', 'a,label\n1,"0\n2,1\n');
    expect(open.message).toMatch(/line 2, column 3: quoted field is never closed/);
    expect(open.details).toMatchObject({ line: 2, column: 3 });
    expect(malformed('after.csv', 'a,label\n"1"x,0\n').message).toMatch(/line 2, column 4: unexpected text after a closing quote/);
    expect(malformed('inner.csv', 'a,label\n1"2,0\n').message).toMatch(/line 2, column 2: quote inside an unquoted field/);
  });

  it('rejects a file with no feature columns', () => {
    expect(malformed('only-label.csv', 'label,\n1,\n').message).toMatch(/non-numeric value ""/);
    expect(malformed('just-label.csv', 'label\n1\n').message).toMatch(/no feature columns/);
  });

  it('reports a missing file as E_FILE_NOT_FOUND', () => {
    expectError(() => loadCsvDataset(`${dir}/missing.csv`, { labelColumn: 'label' }), 'E_FILE_NOT_FOUND');
  });
});
