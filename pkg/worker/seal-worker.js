// The Web Worker side of @datahub/wasm/worker: runs sealBlob off the main thread.
//
// Protocol (all messages carry the `id` of one sealing):
//   main → worker  {type: "seal", id, blob, recipients, options}   options as SealOptions (no functions)
//   worker → main  {type: "segment", id, segment}                  shard buffers transferred; the worker
//   main → worker  {type: "ack", id, index}                        waits for the ack before reading on
//   main → worker  {type: "abort", id, index}                      onSegment failed: stop this sealing
//   worker → main  {type: "progress", id, bytesRead, totalBytes, segments, wasmMemory}
//   worker → main  {type: "done", id, result} | {type: "error", id, error: {name, code, message}}
import init, { sealBlob } from "../web/datahub_wasm.js";

const ready = init();
const acks = new Map();

function waitForAck(id, index) {
  return new Promise((resolve, reject) => acks.set(`${id}:${index}`, { resolve, reject }));
}

async function seal({ id, blob, recipients, options }) {
  const wasm = await ready;
  const memory = () => wasm.memory.buffer.byteLength;
  const result = await sealBlob(blob, recipients, {
    ...options,
    onSegment: (segment) => {
      const acked = waitForAck(id, segment.index);
      self.postMessage({ type: "segment", id, segment }, segment.shards.map((s) => s.buffer));
      return acked;
    },
    onProgress: (progress) => self.postMessage({ type: "progress", id, ...progress, wasmMemory: memory() }),
  });
  return { ...result, wasmMemory: memory() };
}

self.onmessage = async ({ data }) => {
  if (data?.type === "ack" || data?.type === "abort") {
    const key = `${data.id}:${data.index}`;
    const waiting = acks.get(key);
    acks.delete(key);
    if (data.type === "ack") waiting?.resolve();
    else waiting?.reject(Object.assign(new Error("onSegment failed on the page"), { name: "WorkerError", code: "Aborted" }));
    return;
  }
  if (data?.type !== "seal") return;
  try {
    const result = await seal(data);
    self.postMessage({ type: "done", id: data.id, result }, [result.manifest.buffer]);
  } catch (e) {
    const error = { name: e?.name ?? "Error", code: e?.code ?? null, message: String(e?.message ?? e) };
    self.postMessage({ type: "error", id: data.id, error });
  }
};
