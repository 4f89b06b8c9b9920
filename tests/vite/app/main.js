// A fresh app's use of the packed @datahub/wasm: seal and open bytes, sign a message, and seal
// a Blob in the package's Web Worker.
import init, { LocalSigner, sealBytes, openBytes, version } from "@datahub/wasm";
import { SealWorker } from "@datahub/wasm/worker";

async function main() {
  await init();
  const key = LocalSigner.generate();
  const data = new TextEncoder().encode("hello from a Vite app ".repeat(1000));
  const sealed = await sealBytes(data, [key.publicKey], { segmentLen: 8192 });
  sealed.shards[0][1] = null;
  const opened = await openBytes(sealed.manifest, sealed.shards, key.exportSecret());
  const worker = new SealWorker();
  const segments = [];
  const inWorker = await worker.sealBlob(new Blob([data]), [key.publicKey], {
    segmentLen: 8192,
    onSegment: (s) => { segments[s.index] = s.shards; },
  });
  const fromWorker = await openBytes(inWorker.manifest, segments, key.exportSecret());
  worker.terminate();
  const same = (a) => a.length === data.length && a.every((b, i) => b === data[i]);
  return {
    version: version(), address: key.address, message: "signed in Vite",
    signature: key.signMessage("signed in Vite"), opened: same(opened), worker: same(fromWorker),
    segments: inWorker.segmentCount,
  };
}

main().then(
  (result) => { window.result = result; },
  (error) => { window.result = { error: `${error.name}: ${error.message}` }; },
);
