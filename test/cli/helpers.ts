import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/cli.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI in process, in `cwd`, with output captured and no environment but what is given. */
export async function cli(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, isTTY: false, env, cwd });
  return {
    code,
    stdout: stdout.text,
    stderr: stderr.text,
    json<T>() {
      const lines = stdout.text.trim().split('\n');
      if (lines.length !== 1) throw new Error(`expected one JSON line on stdout, got ${lines.length}:\n${stdout.text}`);
      return JSON.parse(lines[0] as string) as T;
    },
  };
}

/**
 * The CLI as its own process (`node` with these arguments, run in REPO_ROOT, where tsx resolves):
 * for what needs a real process, a PID to kill, or a hang that must not block the test worker.
 */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export function cliProcessArgs(argv: readonly string[]): string[] {
  return ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...argv];
}

export async function tempDir(prefix = 'ecoml-cli-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A spec the onnx engine cannot compile (average pooling whose 'same' padding really pads: tfjs's
 * gradient for it is not a true gradient, so that layer stays on tfjs), written into `dir`.
 */
export async function unsupportedSpec(dir: string): Promise<string> {
  const path = join(dir, 'padded-pool.yaml');
  await writeFile(
    path,
    ['name: padded-pool', 'model:', '  input: [28, 28, 1]', '  layers:', '    - { type: averagePooling2d, poolSize: 3, strides: 2, padding: same }', '    - { type: flatten }', '    - { type: dense, units: 10, activation: softmax }'].join('\n'),
  );
  return path;
}

/** Flatten → softmax on MNIST: trains in a blink. */
export async function tinySpec(dir: string): Promise<string> {
  const path = join(dir, 'tiny.yaml');
  await writeFile(
    path,
    [
      'name: tiny',
      'data: { source: mnist }',
      'normalize: scale',
      'model:',
      '  input: [28, 28, 1]',
      '  layers:',
      '    - { type: flatten }',
      '    - { type: dense, units: 10, activation: softmax }',
      'compile: { optimizer: { type: adam, learningRate: 0.01 }, loss: sparse_categorical_crossentropy, metrics: [accuracy] }',
      'train: { epochs: 1, batchSize: 32, seed: 1 }',
      '',
    ].join('\n'),
  );
  return path;
}
