// A real chain for the contract tests: anvil (the pinned npm binary, or $DATAHUB_ANVIL) on a free
// port of 127.0.0.1, and the committed artifacts deployed on it with ethers.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ContractFactory, JsonRpcProvider, JsonRpcSigner } from "ethers";

const contractsDir = dirname(fileURLToPath(import.meta.url));

/** The anvil binary: $DATAHUB_ANVIL, else contracts/node_modules/.bin/anvil. */
export function anvilPath() {
  const path = process.env.DATAHUB_ANVIL || join(contractsDir, "node_modules", ".bin", "anvil");
  if (!existsSync(path)) {
    throw new Error(`anvil not found at ${path}: run \`npm ci\` in contracts/ or set DATAHUB_ANVIL`);
  }
  return path;
}

/** The artifact `contracts/artifacts/<name>.json`, as committed. */
export function artifact(name) {
  return JSON.parse(readFileSync(join(contractsDir, "artifacts", `${name}.json`), "utf8"));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts anvil and waits until it answers. `extraArgs` go to anvil (`--chain-id 56`,
 * `--timestamp N`). Returns `{ url, provider, accounts, stop }`; `accounts` are its ten funded,
 * unlocked accounts as ethers signers.
 */
export async function startAnvil(extraArgs = []) {
  const bin = anvilPath();
  // A port taken between freePort() and anvil's bind makes anvil exit: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(bin, ["--host", "127.0.0.1", "--port", String(port), ...extraArgs], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    // If the test process dies before stop() (a crash, an uncaught error), anvil must not outlive it.
    const reap = () => child.kill("SIGKILL");
    process.once("exit", reap);
    exited.then(() => process.removeListener("exit", reap));
    const url = `http://127.0.0.1:${port}`;
    const ready = await waitForRpc(url, exited);
    if (!ready) {
      child.kill("SIGKILL");
      if (attempt < 3) continue;
      throw new Error(`anvil did not start on ${url}:\n${log}`);
    }
    // cacheTimeout -1: ethers otherwise answers an identical request within 250 ms from a cache, so
    // a replayed claim would be "estimated" with the first one's result and sent.
    const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
    const addresses = await provider.send("eth_accounts", []);
    const accounts = addresses.map((a) => new JsonRpcSigner(provider, a));
    const stop = async () => {
      provider.destroy();
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    };
    return { url, provider, accounts, stop };
  }
}

async function waitForRpc(url, exited) {
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !gone) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Deploys the committed artifact `name` from `signer` with constructor `args`. */
export async function deploy(name, signer, ...args) {
  const a = artifact(name);
  const contract = await new ContractFactory(a.abi, a.bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract;
}
