/**
 * The protocol seam: each wire protocol registers its routes on the server's fastify app and turns
 * requests into tensors and tensors into responses, calling the same server context for models,
 * inference and statistics. Wire formats (snake_case, string versions) stay inside protocols/.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BatchingSettings } from '../batcher.js';
import type { LabelledEnergy } from '../energy.js';
import type { ModelManager } from '../models.js';
import type { ModelEntry } from '../repository.js';
import type { Signature } from '../runtimes/runtime.js';
import type { StatsBook } from '../stats.js';
import type { Tensor } from '../tensors.js';

/** Which version a request names. */
export interface VersionSelector {
  readonly version?: number;
  readonly label?: string;
}

/** What a protocol decoded from a request, once it knew the model's signature. */
export interface DecodedRequest {
  readonly inputs: ReadonlyMap<string, Tensor>;
  /** Outputs to compute; all of the model's when the request names none. */
  readonly outputs: readonly string[];
  /** Samples the request carries. */
  readonly inferences: number;
  readonly timeoutMs?: number;
  readonly id?: string;
}

export interface InferenceAnswer {
  readonly model: string;
  readonly version: number;
  readonly signature: Signature;
  readonly outputs: ReadonlyMap<string, Tensor>;
  /** The request's energy at the current rate (exact shares are booked when the meter's window closes). */
  readonly energy: LabelledEnergy;
}

export interface ServeContext {
  readonly serverName: string;
  readonly serverVersion: string;
  readonly models: ModelManager;
  readonly stats: StatsBook;
  /** True once the first scan's models have loaded, until the server starts shutting down. */
  ready(): boolean;
  /** Reads one model's directory again (for the repository API's load), or undefined if it is gone. */
  rescan(name: string): Promise<ModelEntry | undefined>;
  /** Every model directory in the repository, loaded or not. */
  index(): Promise<readonly ModelEntry[]>;
  /**
   * Runs one inference request: checks out the version, lets `decode` read the body against its
   * signature, checks the tensors, queues them for a batch and accounts for the request.
   */
  infer(
    request: FastifyRequest,
    target: { readonly model: string; readonly protocol: string } & VersionSelector,
    decode: (signature: Signature, batching: BatchingSettings) => DecodedRequest,
  ): Promise<InferenceAnswer>;
  /** Sets the response's energy headers. */
  energyHeaders(reply: FastifyReply, energy: LabelledEnergy): void;
}

export interface Protocol {
  readonly name: string;
  register(app: FastifyInstance, ctx: ServeContext): void;
}
