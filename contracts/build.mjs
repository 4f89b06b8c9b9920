#!/usr/bin/env node
// Compiles DataHub's contracts with the solc-js pinned in package.json (offline: the compiler is
// the npm package, OpenZeppelin is read from node_modules) and writes artifacts/<Name>.json.
//
//   node contracts/build.mjs          write the artifacts
//   node contracts/build.mjs --check  compile in memory; exit 1 naming each artifact that differs
//
// Every setting is fixed here, and the metadata hash is left out of the bytecode, so the same
// sources give the same bytes on any machine: CI re-compiles and compares with what is committed.

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = join(here, "node_modules");
const artifactsDir = join(here, "artifacts");

// The sources compiled, relative to contracts/, and the contracts written out of them.
const SOURCES = [
  "DataHubEscrow.sol",
  "mocks/MockERC20.sol",
  "mocks/MockUSDT.sol",
  "mocks/ReentrantToken.sol",
];
const CONTRACTS = {
  "DataHubEscrow.sol": ["DataHubEscrow"],
  "mocks/MockERC20.sol": ["MockERC20"],
  "mocks/MockUSDT.sol": ["MockUSDT"],
  "mocks/ReentrantToken.sol": ["ReentrantToken"],
};

const SETTINGS = {
  // Runs high: a claim is executed far more often than the contract is deployed.
  optimizer: { enabled: true, runs: 10000 },
  // Cancun: the reentrancy guard uses transient storage (EIP-1153). BNB Smart Chain, Ethereum and
  // anvil all run Cancun or later.
  evmVersion: "cancun",
  // No metadata hash in the bytecode: the bytes then depend on the sources' contents only, not on
  // the paths or the machine that compiled them.
  metadata: { bytecodeHash: "none" },
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function loadSolc() {
  if (!existsSync(join(nodeModules, "solc"))) {
    fail("contracts/node_modules/solc is missing: run `npm ci` in contracts/ (or `cargo xtask setup`)");
  }
  const require = createRequire(join(nodeModules, "solc", "package.json"));
  return require("solc");
}

// Resolves `@openzeppelin/...` imports from node_modules; nothing else leaves contracts/.
function findImports(path) {
  if (!path.startsWith("@openzeppelin/")) {
    return { error: `import ${path}: only @openzeppelin/ imports are resolved` };
  }
  const file = normalize(join(nodeModules, path));
  if (relative(nodeModules, file).startsWith(`..${sep}`)) {
    return { error: `import ${path}: outside node_modules` };
  }
  try {
    return { contents: readFileSync(file, "utf8") };
  } catch {
    return { error: `import ${path}: not found in contracts/node_modules (run npm ci in contracts/)` };
  }
}

/** Compiles the sources; returns a map from artifact file name to its exact text. */
export function compile() {
  const solc = loadSolc();
  const sources = {};
  for (const name of SOURCES) sources[name] = { content: readFileSync(join(here, name), "utf8") };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  const warnings = (output.errors ?? []).filter((e) => e.severity !== "error");
  // A dependency's warnings are not ours to fix (OpenZeppelin's transient-storage notice): count them.
  const ours = warnings.filter((w) => !w.sourceLocation?.file?.startsWith("@openzeppelin/"));
  for (const w of ours) process.stderr.write(w.formattedMessage ?? `${w.message}\n`);
  if (warnings.length > ours.length) {
    process.stderr.write(`build.mjs: ${warnings.length - ours.length} warning(s) in @openzeppelin/ sources not shown\n`);
  }
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(e.formattedMessage ?? `${e.message}\n`);
    fail("compilation failed");
  }
  const version = solc.version();
  const { outputSelection: _, ...settings } = SETTINGS;
  const artifacts = new Map();
  for (const [source, names] of Object.entries(CONTRACTS)) {
    for (const name of names) {
      const c = output.contracts?.[source]?.[name];
      if (!c) fail(`${source}: no contract ${name} in the compiler's output`);
      const artifact = {
        contractName: name,
        sourceName: source,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { name: "solc", version, settings },
      };
      artifacts.set(`${name}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
  return artifacts;
}

function fail(message) {
  process.stderr.write(`build.mjs: ${message}\n`);
  process.exit(1);
}

function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) fail(`unknown argument ${unknown[0]}: the only option is --check`);

  const artifacts = compile();
  if (!check) {
    mkdirSync(artifactsDir, { recursive: true });
    for (const [file, text] of artifacts) writeFileSync(join(artifactsDir, file), text);
    process.stdout.write(`wrote ${[...artifacts.keys()].map((f) => `contracts/artifacts/${f}`).join(", ")}\n`);
    return;
  }

  const stale = [];
  for (const [file, text] of artifacts) {
    const path = join(artifactsDir, file);
    const committed = existsSync(path) ? readFileSync(path, "utf8") : null;
    if (committed === null) stale.push(`contracts/artifacts/${file} is missing`);
    else if (committed !== text) stale.push(`contracts/artifacts/${file} differs from what the sources compile to`);
  }
  const extra = existsSync(artifactsDir)
    ? readdirSync(artifactsDir).filter((f) => f.endsWith(".json") && !artifacts.has(f))
    : [];
  for (const f of extra) stale.push(`contracts/artifacts/${f} has no source`);
  if (stale.length > 0) {
    for (const s of stale) process.stderr.write(`${s}\n`);
    fail("artifacts are stale: run `node contracts/build.mjs` and commit contracts/artifacts/");
  }
  process.stdout.write(`contracts/artifacts/ matches the sources (${artifacts.size} contracts, solc ${solcVersionShort(artifacts)})\n`);
}

function solcVersionShort(artifacts) {
  const first = artifacts.values().next().value;
  return JSON.parse(first).compiler.version;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) main();
