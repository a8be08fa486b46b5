/**
 * File-system failures as catalogue errors, and the checks every output path passes before any
 * work starts. `fsError` is the one place an errno becomes an error code; `ensureDirectory` is the
 * one directory creation, and it ends on every file system: Node's recursive mkdir never returns
 * under /proc, where creating `/proc/x` fails with ENOENT while `/proc` exists.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, lstatSync, mkdirSync, rmdirSync, statfsSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EcomlError, toEcomlError, type ErrorCode } from '../errors.js';

/** Whether the failed operation read `path` or created / wrote it (ENOENT means different things). */
export type FsAccess = 'read' | 'write';

/**
 * The catalogue error for a failed file-system call. `what` names the path for the user (e.g.
 * `--out models/x`, `spec file a.yaml`); `path` is the path the call failed on (default: the
 * error's own). An errno this product does not expect, or anything that is not a failed system
 * call, stays E_INTERNAL.
 */
export function fsError(err: unknown, what: string, path?: string, access: FsAccess = 'read'): EcomlError {
  const errno = err as NodeJS.ErrnoException;
  // Not a failed system call (ours, or an engine's bug): as it is.
  if (!(err instanceof Error) || typeof errno.syscall !== 'string') return toEcomlError(err);
  const at = path ?? errno.path ?? '';
  const fail = (code: ErrorCode, reason: string): EcomlError =>
    new EcomlError(code, `${what}: ${reason}`, { details: { path: at, errno: errno.code }, cause: err });
  switch (errno.code) {
    case 'ENOENT':
      if (access === 'read') return fail('E_FILE_NOT_FOUND', `${at} does not exist`);
      if (isDirectory(at)) return fail('E_PATH_INVALID', `nothing can be created in ${at} (a kernel file system, such as /proc or /sys)`);
      if (!isDirectory(dirname(at))) return missingDirectory(what, dirname(at), err);
      return fail('E_PATH_INVALID', `nothing can be created in ${dirname(at)} (a kernel file system, such as /proc or /sys)`);
    case 'EEXIST':
      return fail('E_PATH_INVALID', `${at} already exists`);
    case 'ELOOP':
      return fail('E_PATH_INVALID', `${at} is a symbolic link loop (too many levels of symbolic links)`);
    case 'ENAMETOOLONG':
      return fail('E_PATH_INVALID', `${at}: a name in the path is too long`);
    case 'ENOTDIR':
      return fail('E_PATH_INVALID', `a part of ${at} is a file, not a directory`);
    case 'EISDIR':
      return fail('E_PATH_INVALID', `${at} is a directory, not a file`);
    case 'EACCES':
    case 'EPERM':
      return fail('E_PERMISSION_DENIED', `permission denied ${access === 'read' ? 'reading' : 'writing'} ${at}`);
    case 'EROFS':
      return fail('E_PERMISSION_DENIED', `${at} is on a read-only file system`);
    case 'ENOSPC':
      return fail('E_NO_SPACE', `no space left on the device holding ${at}`);
    case 'EDQUOT':
      return fail('E_NO_SPACE', `disk quota exceeded writing ${at}`);
    default:
      return new EcomlError('E_INTERNAL', `${what}: ${errno.message ?? String(err)}`, { details: { path: at }, cause: err });
  }
}

function missingDirectory(what: string, dir: string, cause?: unknown): EcomlError {
  return new EcomlError('E_FILE_NOT_FOUND', `${what}: directory ${dir} does not exist`, { details: { path: dir }, ...(cause === undefined ? {} : { cause }) });
}

function wrongKind(what: string, path: string, reason: string): EcomlError {
  return new EcomlError('E_PATH_INVALID', `${what}: ${path} ${reason}`, { details: { path } });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** What is at `path`, links followed: its Stats, or undefined when nothing is. A dangling link is an error. */
function statOf(path: string, what: string): Stats | undefined {
  let link: Stats;
  try {
    link = lstatSync(path);
  } catch (err) {
    // ENOTDIR: a parent is a file; the walk up to it says so.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fsError(err, what, path);
  }
  if (!link.isSymbolicLink()) return link;
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw wrongKind(what, path, 'is a dangling symbolic link (its target does not exist)');
    throw fsError(err, what, path);
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a file';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The deepest directory that exists on the way to `path`, and the paths below it that do not
 * (nearest first). Anything else on the way (a file, a dangling link, a loop) is an error.
 */
function nearestDirectory(path: string, what: string): { readonly dir: string; readonly missing: readonly string[] } {
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    const stats = statOf(at, what);
    if (stats?.isDirectory()) return { dir: at, missing };
    if (stats !== undefined) throw wrongKind(what, at, `is ${kindOf(stats)}, not a directory`);
    missing.push(at);
    const parent = dirname(at);
    // The root always exists; this only guards against a file system that says otherwise.
    if (parent === at) throw missingDirectory(what, at);
    at = parent;
  }
}

/** Creates `dir` and any missing parents, one level at a time (`mkdir -p`, but it always ends). */
export function ensureDirectory(dir: string, what: string): void {
  const { missing } = nearestDirectory(dir, what);
  for (const path of [...missing].reverse()) {
    try {
      mkdirSync(path);
    } catch (err) {
      // Another process may have created it since we looked.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(path)) continue;
      throw fsError(err, what, path, 'write');
    }
  }
}

/** Linux statfs magic numbers of the kernel's own file systems, whose files are knobs, not storage. */
const KERNEL_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroupfs'],
  [0x63677270, 'cgroup2fs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
]);

/** Output there would at best fail and at worst (as root, into /sys) write a CSV row into a kernel setting. */
function refuseKernelFileSystem(path: string, what: string): void {
  if (process.platform !== 'linux') return;
  const name = KERNEL_FILE_SYSTEMS.get(statfsSync(path).type);
  if (name !== undefined) throw wrongKind(what, path, `is on ${name}, a kernel file system: no output can go there`);
}

/** Creates and removes an entry in `dir`: the only sure test that something can be created there (root, /proc, /sys). */
function probeCreate(dir: string, what: string, shownAs: string): void {
  refuseKernelFileSystem(dir, what);
  const probe = join(dir, `.ecoml-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(probe);
  } catch (err) {
    throw fsError(err, what, shownAs, 'write');
  }
  rmdirSync(probe);
}

/**
 * Checks, without creating anything, that `path` can be a directory ecoml writes: it is a directory
 * we may create entries in, or it does not exist and its nearest existing parent is one.
 */
export function checkOutputDirectory(path: string, what: string): void {
  const { dir, missing } = nearestDirectory(path, what);
  probeCreate(dir, what, missing.at(-1) ?? dir);
}

/**
 * Checks, without creating anything, that `path` can be an output file: an existing regular file
 * we may write, or a new name in an existing directory we may create entries in.
 */
export function checkOutputFile(path: string, what: string): void {
  const full = resolve(path);
  const stats = statOf(full, what);
  if (stats !== undefined) {
    if (stats.isDirectory()) throw wrongKind(what, full, 'is a directory, not a file');
    if (!stats.isFile()) throw wrongKind(what, full, `is ${kindOf(stats)}, not a regular file`);
    refuseKernelFileSystem(full, what);
    try {
      accessSync(full, constants.W_OK);
    } catch (err) {
      throw fsError(err, what, full, 'write');
    }
    return;
  }
  const parent = dirname(full);
  const { dir, missing } = nearestDirectory(parent, what);
  if (missing.length > 0) throw missingDirectory(what, parent);
  probeCreate(dir, what, full);
}
