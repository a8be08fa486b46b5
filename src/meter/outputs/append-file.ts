/**
 * Appending text to an output file that may or may not exist yet, or may have been cut short by a
 * crash: what gets written depends on what is already there.
 * @module
 */

import { open, type FileHandle } from 'node:fs/promises';
import { EcomlError } from '../../errors.js';
import { fsError } from '../../util/fs.js';

export interface ExistingFile {
  /** The first line, without its line ending; the whole content if it has no newline. */
  readonly firstLine: string;
}

export interface AppendPlan {
  /** The text for a file that is new or empty. */
  created(): string;
  /** The text to append to a non-empty file; it may throw to refuse the file. */
  existing(file: ExistingFile): string;
}

/** Longest first line read back (a CSV header is well under 1 KiB); longer counts as not ours. */
const FIRST_LINE_LIMIT = 64 * 1024;

export async function appendToFile(path: string, plan: AppendPlan): Promise<void> {
  let handle: FileHandle;
  try {
    // Exclusive create first: two writers racing on a new file cannot both write a header.
    handle = await open(path, 'wx');
    try {
      await handle.writeFile(plan.created(), 'utf8');
    } finally {
      await handle.close();
    }
    return;
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw writeError(path, error);
  }
  try {
    handle = await open(path, 'a+');
  } catch (error) {
    throw writeError(path, error);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) {
      await handle.appendFile(plan.created(), 'utf8');
      return;
    }
    const text = plan.existing({ firstLine: await readFirstLine(handle, size) });
    // A last line cut short (crash, full disk) must not swallow the start of the next record.
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    await handle.appendFile(last[0] === 0x0a ? text : `\n${text}`, 'utf8');
  } catch (error) {
    throw error instanceof EcomlError ? error : writeError(path, error);
  } finally {
    await handle.close();
  }
}

async function readFirstLine(handle: FileHandle, size: number): Promise<string> {
  const length = Math.min(size, FIRST_LINE_LIMIT);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, 0);
  const text = buffer.subarray(0, bytesRead).toString('utf8');
  const end = text.indexOf('\n');
  return (end === -1 ? text : text.slice(0, end)).replace(/\r$/, '').replace(/^\uFEFF/, '');
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function writeError(path: string, error: unknown): EcomlError {
  return fsError(error, `cannot write ${path}`, path, 'write');
}
