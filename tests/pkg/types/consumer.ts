// A small consumer of @datahub/wasm's generated types: `tsc --noEmit` must accept it
// (tests/pkg/types.test.mjs). It uses every part of the API the way an app would.
import init, {
  LocalSigner, WalletSigner, Sealer, Opener, sealBytes, sealBlob, openBytes, openSealed, recoverAddress,
  version, type SealedObject, type SealedSegment, type SealOptions, type ShardSlot, type WalletInfo,
} from "@datahub/wasm";
import { SealWorker, type WorkerSealProgress } from "@datahub/wasm/worker";

export async function app(file: File): Promise<string> {
  await init();
  const v: string = version();
  const me: LocalSigner = await LocalSigner.loadOrCreate();
  const again: LocalSigner | undefined = await LocalSigner.load("session");
  await me.save("backup");
  await LocalSigner.forget("backup");
  const keyfile: string = me.exportKeyfile();
  LocalSigner.fromKeyfile(keyfile);

  const options: SealOptions = { dataShards: 4, parityShards: 2, segmentLen: 1 << 22 };
  const sealed: SealedObject = await sealBytes(new Uint8Array([1, 2, 3]), [me.publicKey], options);
  const id: string = sealed.objectId;
  const slots: ShardSlot[][] = sealed.shards.map((s) => s.map((x, i) => (i === 0 ? null : x)));
  const plain: Uint8Array = await openBytes(sealed.manifest, slots, me.exportSecret());
  const alsoPlain: Uint8Array = await openSealed(new Uint8Array(0), me.exportSecret()).catch(() => plain);
  await sealBytes(plain, [me.compressedPublicKey]);

  const uploads: Promise<void>[] = [];
  const blob = await sealBlob(file, [me.publicKey], {
    onSegment: async (segment: SealedSegment) => {
      const n: number = segment.index;
      const first: Uint8Array | undefined = segment.shards[0];
      uploads.push(Promise.resolve(void [n, first, segment.shardIds[0]]));
    },
    onProgress: ({ bytesRead, totalBytes }) => void (bytesRead / totalBytes),
  });
  const count: number = blob.segmentCount;

  const sealer = new Sealer([me.publicKey]);
  const done: SealedSegment[] = sealer.update(new Uint8Array(10));
  const end = sealer.finish();
  const opener = new Opener(end.manifest, me.exportSecret(), end.objectId);
  const parts: Uint8Array[] = [...done, ...end.segments].map((s) => opener.pushSegment(s.index, s.shards));
  opener.finish();

  const wallets: WalletInfo[] = await WalletSigner.discover({ timeoutMs: 50 });
  const wallet: WalletSigner = await WalletSigner.connect({ prefer: "binancew3w" });
  const sig: string = await wallet.signMessage("hello");
  const typedSig: string = await wallet.signTypedData(JSON.stringify({ types: {}, primaryType: "X", domain: {}, message: {} }));
  const who: string = recoverAddress("hello", sig);

  const worker = new SealWorker();
  const result = await worker.sealBlob(file, [me.publicKey], {
    segmentLen: 1 << 20,
    onProgress: (p: WorkerSealProgress) => void p.wasmMemory,
    onSegment: async (s) => void s.shards.length,
  });
  worker.terminate();
  return [v, again?.address, id, alsoPlain.length, count, parts.length, wallets.length, typedSig, who, result.objectId].join();
}
