/**
 * Fetching a dataset file (e.g. a Fashion-MNIST IDX mirror) to disk. The body streams through a
 * SHA-256 hash and, for .gz, a gunzip into a temporary file beside `dest`, which is renamed into
 * place only once everything checked out: `dest` is never left half-written.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { EcomlError } from '../errors.js';
import { ensureDirectory, fsError } from '../util/fs.js';

export interface DownloadOptions {
  /**
   * Expected SHA-256 (hex) of the bytes as served, i.e. of the .gz file when gunzipping, since that
   * is what dataset mirrors publish checksums for.
   */
  readonly sha256?: string;
  /** Gunzip the body; by default when the URL's path ends in .gz. */
  readonly gunzip?: boolean;
  /** Whole-transfer limit in milliseconds (default 60 s). */
  readonly timeoutMs?: number;
}

export interface DownloadResult {
  readonly path: string;
  /** Bytes written to `path` (after gunzip). */
  readonly bytes: number;
  /** SHA-256 (hex) of the bytes as served. */
  readonly sha256: string;
}

/** A URL that cannot be fetched is E_DOWNLOAD_FAILED; content that fails its checks is E_DATA_MALFORMED. */
function unreachable(url: string, why: string, details: Record<string, unknown> = {}, cause?: unknown): EcomlError {
  return new EcomlError('E_DOWNLOAD_FAILED', `could not download ${url}: ${why}`, { details: { url, ...details }, cause });
}

export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  if (!URL.canParse(url)) throw new EcomlError('E_CONFIG_INVALID', `not a valid URL: ${url}`, { details: { url } });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const gunzip = options.gunzip ?? new URL(url).pathname.endsWith('.gz');
  const signal = AbortSignal.timeout(timeoutMs);
  // fetch's own message is a bare "fetch failed"; the reason (refused, DNS…) is in its cause.
  const describe = (err: unknown): string => {
    if (signal.aborted) return `timed out after ${timeoutMs} ms`;
    const { message, cause } = err as Error;
    return cause instanceof Error ? `${message}: ${cause.message}` : message;
  };

  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (err) {
    throw unreachable(url, describe(err), {}, err);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw unreachable(url, `HTTP ${response.status} ${response.statusText}`, { status: response.status });
  }

  ensureDirectory(dirname(dest), `download target ${dest}`);
  const temp = `${dest}.${randomUUID()}.part`;
  const hash = createHash('sha256');
  try {
    await pipeline(
      Readable.fromWeb(response.body as ReadableStream<Uint8Array>),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          yield chunk;
        }
      },
      gunzip ? createGunzip() : new PassThrough(),
      createWriteStream(temp),
    );
    const digest = hash.digest('hex');
    if (options.sha256 !== undefined && digest !== options.sha256.toLowerCase()) {
      throw new EcomlError('E_DATA_MALFORMED', `download of ${url} failed its checksum: expected sha256 ${options.sha256}, got ${digest}`, {
        details: { url, file: dest, expected: options.sha256, actual: digest },
      });
    }
    await rename(temp, dest);
    return { path: dest, bytes: (await stat(dest)).size, sha256: digest };
  } catch (err) {
    await rm(temp, { force: true });
    // Our own verdicts and local file-system failures are not the server's fault.
    if (err instanceof EcomlError) throw err;
    if ((err as NodeJS.ErrnoException).syscall !== undefined) throw fsError(err, `download target ${dest}`, undefined, 'write');
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new EcomlError('E_DATA_MALFORMED', `download of ${url} is not valid gzip data: ${(err as Error).message}`, { details: { url, file: dest }, cause: err });
    }
    throw unreachable(url, describe(err), {}, err);
  }
}
