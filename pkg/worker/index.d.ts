import type { SealBlobOptions, SealedBlob, SealedSegment, SealProgress } from "../web/datahub_wasm.js";

/** Progress of a sealing in the worker, with the worker's WebAssembly memory size in bytes. */
export interface WorkerSealProgress extends SealProgress {
  wasmMemory: number;
}

/** Options of `SealWorker.sealBlob`: those of `sealBlob`, callbacks run on the calling thread. */
export interface WorkerSealOptions extends Omit<SealBlobOptions, "onSegment" | "onProgress"> {
  onSegment?: (segment: SealedSegment) => void | Promise<void>;
  onProgress?: (progress: WorkerSealProgress) => void;
}

/** What `SealWorker.sealBlob` resolves to: `sealBlob`'s result and the final wasm memory size. */
export interface WorkerSealedBlob extends SealedBlob {
  wasmMemory: number;
}

/** Seals Blobs in a dedicated module Web Worker, one segment in flight at a time. */
export declare class SealWorker {
  /** Starts the worker; pass your own `Worker` running `seal-worker.js` if your bundler needs it. */
  constructor(worker?: Worker);
  readonly worker: Worker;
  sealBlob(blob: Blob, recipients: string[], options?: WorkerSealOptions): Promise<WorkerSealedBlob>;
  terminate(): void;
}
