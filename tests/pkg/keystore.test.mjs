// The visitor's local key in IndexedDB, in headless Chromium: the same key after a reload and
// in a new tab, named keys apart, export and import as a keyfile, forgetting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { verifyMessage } from "ethers";
import { serve, launch } from "./browser.mjs";

let server;
let browser;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function ready(page) {
  await page.goto(`${server.origin}/pages/keys.html`);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
}

test("loadOrCreate gives the same key after a reload and in another tab", async () => {
  const page = await browser.page();
  await ready(page);
  const first = await page.evaluate(async () => {
    const before = await dh.LocalSigner.load();
    const signer = await dh.LocalSigner.loadOrCreate();
    return { before: before ?? null, address: signer.address, signature: signer.signMessage("hello") };
  });
  assert.equal(first.before, null);
  assert.equal(verifyMessage("hello", first.signature), first.address);

  await page.reload();
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  const again = await page.evaluate(async () => {
    const [a, b] = await Promise.all([dh.LocalSigner.loadOrCreate(), dh.LocalSigner.loadOrCreate()]);
    return [a.address, b.address, (await dh.LocalSigner.load()).address];
  });
  assert.deepEqual(again, [first.address, first.address, first.address]);

  const other = await browser.page();
  await ready(other);
  assert.equal(await other.evaluate(async () => (await dh.LocalSigner.loadOrCreate()).address), first.address);
  assert.deepEqual([...page.errors, ...other.errors], []);
});

test("named keys, keyfiles and forget", async () => {
  const page = await browser.page();
  await ready(page);
  const r = await page.evaluate(async () => {
    const session = await dh.LocalSigner.loadOrCreate("session");
    const main = await dh.LocalSigner.loadOrCreate();
    const keyfile = main.exportKeyfile();
    const imported = dh.LocalSigner.fromKeyfile(keyfile);
    const restored = dh.LocalSigner.fromSecret(main.exportSecret());
    await restored.save("restored");
    const loadedRestored = (await dh.LocalSigner.load("restored")).address;
    await dh.LocalSigner.forget("session");
    const gone = await dh.LocalSigner.load("session");
    let bad;
    try {
      dh.LocalSigner.fromKeyfile(keyfile.replace(/"address":"0x[0-9a-fA-F]+"/, `"address":"${session.address}"`));
    } catch (e) {
      bad = { name: e.name, code: e.code };
    }
    return {
      distinct: session.address !== main.address, keyfile: JSON.parse(keyfile), main: main.address,
      imported: imported.address, loadedRestored, gone: gone ?? null, bad,
    };
  });
  assert.ok(r.distinct);
  assert.equal(r.keyfile.type, "datahub-local-key");
  assert.equal(r.keyfile.version, 1);
  assert.equal(r.keyfile.address, r.main);
  assert.match(r.keyfile.secretKey, /^0x[0-9a-f]{64}$/);
  assert.equal(r.imported, r.main);
  assert.equal(r.loadedRestored, r.main);
  assert.equal(r.gone, null);
  assert.deepEqual(r.bad, { name: "KeystoreError", code: "InvalidKeyfile" });
});
