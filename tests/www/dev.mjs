// A real local network for browser tests: `datahub dev` (a relay, storage nodes, www/ and pkg/
// served by the relay, the demo campaigns) on a free loopback port and a fresh data folder.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const bin = process.env.DATAHUB_BIN ?? join(root, "target/debug/datahub");

/**
 * An operator grant with `datahub treasury grant`, signed by the operator key `datahub dev` keeps
 * in its data folder: campaign budgets come from funds, and a fresh requester has none.
 */
export function grant(origin, data, requester, chain, amount, token = "USDT") {
  return execFileSync(bin, [
    "treasury", "grant", "--key", join(data, "operator.key"), "--relay", origin, "--requester", requester,
    "--chain", String(chain), "--token", token, "--amount", amount,
  ], { encoding: "utf8" });
}

/**
 * Starts `datahub dev`; resolves to {origin, data, datahub(args), stop()}. No compute nodes by
 * default: with them the demo voice campaign's uploads wait for the nodes' judgement (the CLI's
 * tests cover that), and the browser tests expect them paid at once.
 */
export async function startDev({ nodes = 6, compute = 0 } = {}) {
  if (!existsSync(bin)) execFileSync("cargo", ["build", "-p", "datahub-cli"], { cwd: root, stdio: "inherit" });
  const data = await mkdtemp(join(tmpdir(), "datahub-www-"));
  const child = spawn(bin, ["dev", "--nodes", String(nodes), "--compute", String(compute), "--port", "0", "--data", data], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const origin = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error("datahub dev was not ready in 120 s")), 120_000);
    lines.on("line", (line) => {
      if (line.startsWith("ready: ")) {
        clearTimeout(timer);
        resolve(line.slice("ready: ".length).split(" ")[0].replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => reject(new Error(`datahub dev exited (${code}) before it was ready`)));
  });
  return {
    origin,
    data,
    /** Runs the `datahub` command against this network; resolves to its standard output. */
    datahub: (args) => execFileSync(bin, args, { env: { ...process.env, DATAHUB_RELAY: origin }, encoding: "utf8" }),
    /** Funds `requester` (an address) with `amount` tokens on `chain`: the network's operator grants them. */
    grant: (requester, chain, amount, token = "USDT") => grant(origin, data, requester, chain, amount, token),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.on("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(data, { recursive: true, force: true });
    },
  };
}
