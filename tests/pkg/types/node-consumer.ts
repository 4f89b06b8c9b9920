// The node build's types, as a Node.js consumer (moduleResolution nodenext) sees them.
import { LocalSigner, sealBytes, openBytes, type SealedObject } from "@datahub/wasm";

export async function roundTrip(data: Uint8Array): Promise<Uint8Array> {
  const key = LocalSigner.generate();
  const sealed: SealedObject = await sealBytes(data, [key.publicKey]);
  return openBytes(sealed.manifest, sealed.shards, key.exportSecret());
}
