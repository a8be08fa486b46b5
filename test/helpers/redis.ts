/**
 * Throwaway redis-server processes for tests: on 127.0.0.1, a free port, nothing saved. redis-server
 * comes from PATH (.ci/run installs Debian's); where it is missing the tests that need it skip, unless
 * ECOML_REQUIRE_REDIS=1 (.ci/run sets it once installed), where that is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

function probe(): string | undefined {
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (result.error === undefined && result.status === 0) return undefined;
  const reason = `redis-server is not runnable from PATH (${result.error?.message ?? `exit ${result.status}`})`;
  if (process.env.ECOML_REQUIRE_REDIS === '1') throw new Error(`ECOML_REQUIRE_REDIS=1, but ${reason}`);
  return reason;
}

/** Why no redis-server can be started here, or undefined where one can. */
export const redisUnavailable: string | undefined = probe();

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A port nothing listens on now (the OS's pick); also what connection-refused tests dial. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address for a probe server');
  return address.port;
}

async function waitUntilReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server was not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  // Another process may take the free port between the probe and redis-server's bind: try again.
  for (let tries = 1; ; tries += 1) {
    const port = await freePort();
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await waitUntilReady(child, 10_000);
    } catch (error) {
      child.kill('SIGKILL');
      if (tries === 3) throw error;
      continue;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      async stop() {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      },
    };
  }
}
