import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { checkOutputDirectory, checkOutputFile, ensureDirectory, fsError, type FsAccess } from '../../src/util/fs.js';

const dir = mkdtempSync(join(tmpdir(), 'ecoml-fs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LINUX = process.platform === 'linux' && existsSync('/proc/self') && existsSync('/sys/kernel');

/** What a throwing call on `path` fails with, as fsError maps it (some of Node's errors do not carry the path). */
function mapped(fn: () => unknown, path: string, access: FsAccess = 'read'): EcomlError {
  try {
    fn();
  } catch (err) {
    return fsError(err, 'the thing', path, access);
  }
  throw new Error('expected the call to fail');
}

function thrown(fn: () => unknown): EcomlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EcomlError);
    return err as EcomlError;
  }
  throw new Error('expected the call to fail');
}

/** An errno error as Node raises it, for the conditions a test cannot create (root ignores permissions). */
function errnoError(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, open '${path}'`), { code, syscall: 'open', path, errno: -1 });
}

describe('fsError: each errno maps to one catalogue code', () => {
  const file = join(dir, 'file.txt');
  writeFileSync(file, 'x');
  const loop = join(dir, 'loop-a');
  symlinkSync(join(dir, 'loop-b'), loop);
  symlinkSync(loop, join(dir, 'loop-b'));

  const missing = join(dir, 'missing');
  const below = join(file, 'below');
  const long = join(dir, 'n'.repeat(300));
  it.each([
    ['ENOENT', 'E_FILE_NOT_FOUND', missing, () => readFileSync(missing), `${missing} does not exist`],
    ['ELOOP', 'E_PATH_INVALID', loop, () => readFileSync(loop), `${loop} is a symbolic link loop (too many levels of symbolic links)`],
    ['EISDIR', 'E_PATH_INVALID', dir, () => readFileSync(dir), `${dir} is a directory, not a file`],
    ['ENOTDIR', 'E_PATH_INVALID', below, () => readFileSync(below), `a part of ${below} is a file, not a directory`],
    ['EEXIST', 'E_PATH_INVALID', dir, () => mkdirSync(dir), `${dir} already exists`],
    ['ENAMETOOLONG', 'E_PATH_INVALID', long, () => readFileSync(long), `${long}: a name in the path is too long`],
  ])('%s (a real failure) is %s', (errno, code, path, call, reason) => {
    const error = mapped(call, path);
    expect(error.code).toBe(code);
    expect(error.message).toBe(`the thing: ${reason}`);
    expect(error.details).toEqual({ path, errno });
  });

  it.runIf(LINUX)('ENOSPC (writing /dev/full) is E_NO_SPACE; EPERM (creating in /sys) is E_PERMISSION_DENIED', () => {
    expect(mapped(() => writeFileSync('/dev/full', 'row'), '/dev/full', 'write')).toMatchObject({ code: 'E_NO_SPACE', message: 'the thing: no space left on the device holding /dev/full' });
    expect(mapped(() => mkdirSync('/sys/ecoml-no-such'), '/sys/ecoml-no-such', 'write').code).toBe('E_PERMISSION_DENIED');
  });

  it.each([
    ['EACCES', 'read', 'E_PERMISSION_DENIED', 'permission denied reading /a/b'],
    ['EACCES', 'write', 'E_PERMISSION_DENIED', 'permission denied writing /a/b'],
    ['EPERM', 'write', 'E_PERMISSION_DENIED', 'permission denied writing /a/b'],
    ['EROFS', 'write', 'E_PERMISSION_DENIED', '/a/b is on a read-only file system'],
    ['ENOSPC', 'write', 'E_NO_SPACE', 'no space left on the device holding /a/b'],
    ['EDQUOT', 'write', 'E_NO_SPACE', 'disk quota exceeded writing /a/b'],
  ] as const)('%s (%s) is %s', (errno, access, code, reason) => {
    const error = fsError(errnoError(errno, '/a/b'), 'the thing', undefined, access);
    expect(error.code).toBe(code);
    expect(error.message).toBe(`the thing: ${reason}`);
  });

  it('ENOENT while creating: a missing directory is E_FILE_NOT_FOUND; an existing one that takes nothing (/proc) is E_PATH_INVALID', () => {
    expect(fsError(errnoError('ENOENT', join(dir, 'no', 'x.csv')), 'out', undefined, 'write')).toMatchObject({
      code: 'E_FILE_NOT_FOUND',
      message: `out: directory ${join(dir, 'no')} does not exist`,
    });
    expect(fsError(errnoError('ENOENT', join(dir, 'x.csv')), 'out', undefined, 'write')).toMatchObject({
      code: 'E_PATH_INVALID',
      message: `out: nothing can be created in ${dir} (a kernel file system, such as /proc or /sys)`,
    });
  });

  it('leaves ours alone; an unexpected errno or a bug is E_INTERNAL, keeping its cause', () => {
    const ours = new EcomlError('E_DATA_MALFORMED', 'bad');
    expect(fsError(ours, 'x')).toBe(ours);
    const eio = errnoError('EIO', '/a/b');
    expect(fsError(eio, 'x')).toMatchObject({ code: 'E_INTERNAL', cause: eio });
    const bug = new TypeError('undefined is not a function');
    expect(fsError(bug, 'x')).toMatchObject({ code: 'E_INTERNAL', message: 'undefined is not a function', cause: bug });
  });
});

describe('ensureDirectory', () => {
  it('creates every missing level, and accepts one that exists', () => {
    const deep = join(dir, 'made', 'a', 'b');
    ensureDirectory(deep, 'dir');
    ensureDirectory(deep, 'dir');
    expect(readdirSync(join(dir, 'made', 'a'))).toEqual(['b']);
  });

  it.runIf(LINUX)('ends under /proc, where Node’s recursive mkdir loops forever', { timeout: 10_000 }, () => {
    const error = thrown(() => ensureDirectory('/proc/ecoml-no-such/model', '--out /proc/ecoml-no-such/model'));
    expect(error.code).toBe('E_PATH_INVALID');
    expect(error.message).toBe('--out /proc/ecoml-no-such/model: nothing can be created in /proc (a kernel file system, such as /proc or /sys)');
  });

  it('names a file, a dangling link or a loop in the way', () => {
    const file = join(dir, 'in-the-way');
    writeFileSync(file, '');
    expect(thrown(() => ensureDirectory(join(file, 'x'), 'd'))).toMatchObject({ code: 'E_PATH_INVALID', message: `d: ${file} is a file, not a directory` });
    const dangling = join(dir, 'dangling');
    symlinkSync(join(dir, 'nowhere'), dangling);
    expect(thrown(() => ensureDirectory(join(dangling, 'x'), 'd'))).toMatchObject({
      code: 'E_PATH_INVALID',
      message: `d: ${dangling} is a dangling symbolic link (its target does not exist)`,
    });
    expect(thrown(() => ensureDirectory(join(dir, 'loop-a', 'x'), 'd')).code).toBe('E_PATH_INVALID');
  });
});

describe('output checks create nothing and refuse what could never be written', () => {
  it('accept a new name in a writable directory, an existing file, and a directory still to be made', () => {
    const before = readdirSync(dir).sort();
    checkOutputFile(join(dir, 'new.csv'), 'out');
    writeFileSync(join(dir, 'old.csv'), 'a\n');
    checkOutputFile(join(dir, 'old.csv'), 'out');
    checkOutputDirectory(join(dir, 'later', 'models', 'm'), 'out');
    checkOutputDirectory(dir, 'out');
    expect(readdirSync(dir).sort()).toEqual([...before, 'old.csv'].sort());
  });

  it('refuse the wrong kind of path, and a file whose directory is missing', () => {
    expect(thrown(() => checkOutputFile(dir, '--output d'))).toMatchObject({ code: 'E_PATH_INVALID', message: `--output d: ${dir} is a directory, not a file` });
    expect(thrown(() => checkOutputFile(join(dir, 'none', 'x.csv'), '--output x'))).toMatchObject({
      code: 'E_FILE_NOT_FOUND',
      message: `--output x: directory ${join(dir, 'none')} does not exist`,
    });
    const file = join(dir, 'plain');
    writeFileSync(file, '');
    expect(thrown(() => checkOutputDirectory(file, '--out p'))).toMatchObject({ code: 'E_PATH_INVALID', message: `--out p: ${file} is a file, not a directory` });
  });

  it.runIf(LINUX)('refuse devices and kernel file systems (/dev/full, /proc, /sys)', () => {
    expect(thrown(() => checkOutputFile('/dev/full', 'o'))).toMatchObject({ code: 'E_PATH_INVALID', message: 'o: /dev/full is a character device, not a regular file' });
    expect(thrown(() => checkOutputFile('/proc/self/status', 'o')).message).toBe('o: /proc/self/status is on procfs, a kernel file system: no output can go there');
    expect(thrown(() => checkOutputFile('/proc/ecoml.csv', 'o')).code).toBe('E_PATH_INVALID');
    expect(thrown(() => checkOutputDirectory('/proc/x/model', 'o')).message).toBe('o: /proc is on procfs, a kernel file system: no output can go there');
    expect(thrown(() => checkOutputDirectory('/sys/x', 'o')).message).toBe('o: /sys is on sysfs, a kernel file system: no output can go there');
  });
});
