// The package's TypeScript types: `tsc --noEmit` accepts small consumers of the web build (with
// the worker helper, bundler resolution) and of the node build (NodeNext resolution).
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const tsc = fileURLToPath(new URL("../node_modules/.bin/tsc", import.meta.url));
const dir = fileURLToPath(new URL("./types/", import.meta.url));

for (const config of ["tsconfig.json", "tsconfig.node.json"]) {
  test(`tsc --noEmit accepts the consumer of ${config}`, () => {
    execFileSync(tsc, ["--noEmit", "-p", config], { cwd: dir, stdio: ["ignore", "inherit", "inherit"] });
  });
}
