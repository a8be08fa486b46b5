import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, encodeIdx, readIdxFile } from '../../src/data/index.js';
import { EcomlError } from '../../src/errors.js';
import { tempDir } from './helpers.js';

const dir = tempDir();
const idx = encodeIdx('ubyte', [3, 2, 2], Array.from({ length: 12 }, (_, i) => i * 20));
const gz = gzipSync(idx);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const routes: Record<string, Buffer> = { '/set/images.idx.gz': gz, '/set/images.idx': idx, '/fake.gz': Buffer.from('not gzip at all') };
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers: the client's timeout must fire
    const body = routes[req.url ?? ''];
    if (body === undefined) {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function rejection(promise: Promise<unknown>, code: string): Promise<EcomlError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EcomlError);
  expect((err as EcomlError).code).toBe(code);
  return err as EcomlError;
}

/** No temporary .part files may survive a download, successful or not. */
function noLeftovers(): void {
  expect(readdirSync(dir).filter((name) => name.endsWith('.part'))).toEqual([]);
}

describe('downloadFile', () => {
  it('gunzips a .gz URL into dest after checking the hash of the served bytes', async () => {
    const dest = join(dir, 'nested', 'train-images');
    const result = await downloadFile(`${base}/set/images.idx.gz`, dest, { sha256: sha256(gz).toUpperCase() });
    expect(result).toEqual({ path: dest, bytes: idx.length, sha256: sha256(gz) });
    expect(readFileSync(dest).equals(idx)).toBe(true);
    expect(readIdxFile(dest).dims).toEqual([3, 2, 2]);
  });

  it('stores other files as served, unless told to gunzip', async () => {
    const dest = join(dir, 'plain');
    await downloadFile(`${base}/set/images.idx`, dest);
    expect(readFileSync(dest).equals(idx)).toBe(true);
    const raw = join(dir, 'raw.gz');
    await downloadFile(`${base}/set/images.idx.gz`, raw, { gunzip: false });
    expect(readFileSync(raw).equals(gz)).toBe(true);
  });

  it('rejects a wrong hash and leaves nothing behind', async () => {
    const dest = join(dir, 'bad-hash');
    const err = await rejection(downloadFile(`${base}/set/images.idx.gz`, dest, { sha256: '0'.repeat(64) }), 'E_DATA_MALFORMED');
    expect(err.message).toContain(`got ${sha256(gz)}`);
    expect(existsSync(dest)).toBe(false);
    noLeftovers();
  });

  it('reports HTTP errors, bad gzip and timeouts', async () => {
    const missing = await rejection(downloadFile(`${base}/nope`, join(dir, 'x')), 'E_DOWNLOAD_FAILED');
    expect(missing.message).toMatch(/HTTP 404/);
    expect(missing.details).toMatchObject({ status: 404 });
    await rejection(downloadFile(`${base}/fake.gz`, join(dir, 'fake')), 'E_DATA_MALFORMED');
    const slow = await rejection(downloadFile(`${base}/slow`, join(dir, 'slow'), { timeoutMs: 200 }), 'E_DOWNLOAD_FAILED');
    expect(slow.message).toMatch(/timed out after 200 ms/);
    noLeftovers();
  });

  it('reports an unreachable server with the reason, and an invalid URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await rejection(downloadFile(`http://127.0.0.1:${port}/x.gz`, join(dir, 'refused')), 'E_DOWNLOAD_FAILED');
    expect(refused.message).toMatch(/ECONNREFUSED/);
    await rejection(downloadFile('not a url', join(dir, 'y')), 'E_CONFIG_INVALID');
  });
});
