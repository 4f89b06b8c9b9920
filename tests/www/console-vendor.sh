#!/bin/sh
# Rebuilds www/console/vendor.js, the console's bundled third-party code (see its header), from
# the npm registry, in a scratch folder: the versions are pinned here and in the header.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
echo '{"name":"console-vendor","private":true,"type":"module"}' > package.json
npm install --no-audit --no-fund --save-exact hyparquet-writer@0.17.0 hyparquet@1.31.5 hash-wasm@4.13.0 esbuild@0.28.2 >/dev/null
printf '%s\n' 'export { parquetWrite, ByteWriter } from "hyparquet-writer";' 'export { createBLAKE3 } from "hash-wasm";' > entry.mjs
npx esbuild entry.mjs --bundle --format=esm --minify --platform=browser --legal-comments=inline --outfile=vendor.js
head -4 "$root/www/console/vendor.js" > header.js
cat header.js vendor.js > "$root/www/console/vendor.js"
