// @datahub/wasm/worker: seal a Blob in a Web Worker so the page stays responsive.
// The worker is ./seal-worker.js beside this file (a module worker using the web build).

let nextId = 1;

/** Seals Blobs in a dedicated module Web Worker, one segment in flight at a time. */
export class SealWorker {
  /** Starts the worker; pass your own `Worker` running seal-worker.js if your bundler needs it. */
  constructor(worker) {
    this.worker = worker ?? new Worker(new URL("./seal-worker.js", import.meta.url), { type: "module" });
    this.jobs = new Map();
    this.worker.onmessage = ({ data }) => this.#receive(data);
    this.worker.onerror = (event) => {
      const error = new Error(`the seal worker failed: ${event.message ?? "see the console"}`);
      error.name = "WorkerError";
      error.code = "WorkerFailed";
      for (const job of this.jobs.values()) job.reject(error);
      this.jobs.clear();
    };
  }

  /**
   * Seals `blob` to `recipients` in the worker. `onSegment(segment)` receives each segment (its
   * shard buffers are transferred, not copied); the worker reads on once the Promise it returns
   * settles. `onProgress({bytesRead, totalBytes, segments, wasmMemory})` follows each slice.
   */
  sealBlob(blob, recipients, options = {}) {
    const { onSegment, onProgress, ...sealOptions } = options;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, onSegment, onProgress, kept: onSegment ? null : { shards: [], shardIds: [] } });
      this.worker.postMessage({ type: "seal", id, blob, recipients, options: sealOptions });
    });
  }

  /** Stops the worker; sealings under way are rejected. */
  terminate() {
    this.worker.terminate();
    const error = new Error("the seal worker was terminated");
    error.name = "WorkerError";
    error.code = "Terminated";
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
  }

  async #receive(data) {
    const job = this.jobs.get(data?.id);
    if (!job) return;
    switch (data.type) {
      case "segment":
        try {
          if (job.onSegment) {
            await job.onSegment(data.segment);
          } else {
            job.kept.shards.push(data.segment.shards);
            job.kept.shardIds.push(data.segment.shardIds);
          }
          this.worker.postMessage({ type: "ack", id: data.id, index: data.segment.index });
        } catch (e) {
          // The worker stops this sealing; its own error report is then ignored.
          this.jobs.delete(data.id);
          this.worker.postMessage({ type: "abort", id: data.id, index: data.segment.index });
          job.reject(e);
        }
        break;
      case "progress": {
        const { type, id, ...progress } = data;
        job.onProgress?.(progress);
        break;
      }
      case "done":
        this.jobs.delete(data.id);
        job.resolve(job.kept ? { ...data.result, ...job.kept } : data.result);
        break;
      case "error": {
        this.jobs.delete(data.id);
        const error = new Error(data.error.message);
        error.name = data.error.name;
        error.code = data.error.code;
        job.reject(error);
        break;
      }
    }
  }
}
