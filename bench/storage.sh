#!/usr/bin/env bash
# Storage benchmark: put and get of one object through `datahub dev` (relay + 6 nodes, release
# build), then the time the relay takes to repair around one killed node.
#
#   bash bench/storage.sh [SIZE_MIB (default 256)] [--json FILE]
#
# --json FILE also writes the figures there as JSON (for `cargo xtask bench`). BENCH_PROFILE=debug
# uses the debug build instead of the release one (quicker to build, for checking the script).
#
# Prints MiB/s of put and get (wall time of the CLI, sealing and opening included) and the
# seconds from a node's SIGKILL until `object status` reports no segment at risk (that includes
# the node timeout, 15 s by default, before the node is judged dead).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size_mib=256
json_out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --json) json_out="$2"; shift 2 ;;
    *) size_mib="$1"; shift ;;
  esac
done
if [[ "${BENCH_PROFILE:-release}" == debug ]]; then
  cargo build -q -p datahub-cli
  bin="$PWD/target/debug/datahub"
else
  cargo build --release -q -p datahub-cli
  bin="$PWD/target/release/datahub"
fi
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
relay="http://127.0.0.1:$port"
cleanup() { [[ -n "${dev_pid:-}" ]] && kill "$dev_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" dev --nodes 6 --port "$port" --data "$work/net" >"$work/dev.out" 2>&1 &
dev_pid=$!
for _ in $(seq 1 300); do grep -q '^ready' "$work/dev.out" && break; sleep 0.2; done
grep -q '^ready' "$work/dev.out" || { cat "$work/dev.out"; exit 1; }

"$bin" keygen -o "$work/key" >"$work/keygen.out"
pub="$(awk '/public key/ {print $NF}' "$work/keygen.out")"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/data"

secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }
t0=$(date +%s.%N)
id="$("$bin" object put "$work/data" -r "$pub" -i "$work/key" --relay "$relay" | tail -1 | awk '{print $NF}')"
t1=$(date +%s.%N)
"$bin" object get "$id" -i "$work/key" -o "$work/back" --relay "$relay" >/dev/null
t2=$(date +%s.%N)
cmp "$work/data" "$work/back"
put=$(secs "$t0" "$t1"); get=$(secs "$t1" "$t2")
echo "put ${size_mib} MiB: ${put} s = $(python3 -c "print(f'{$size_mib/$put:.1f}')") MiB/s"
echo "get ${size_mib} MiB: ${get} s = $(python3 -c "print(f'{$size_mib/$get:.1f}')") MiB/s (byte-exact)"

victim="$(awk '$1 ~ /^node-/ {print $3; exit}' "$work/dev.out")"
kill -9 "$victim"
t3=$(date +%s.%N)
at_risk() { "$bin" object status "$id" --json --relay "$relay" | python3 -c 'import json,sys; print(json.load(sys.stdin)["at_risk"])'; }
until [[ "$(at_risk)" != 0 ]]; do sleep 0.5; done
t_dead=$(date +%s.%N)
until [[ "$(at_risk)" == 0 ]]; do sleep 0.5; done
t4=$(date +%s.%N)
dead=$(secs "$t3" "$t_dead"); repaired=$(secs "$t_dead" "$t4")
echo "repair after one node killed: judged dead after $dead s (the node timeout), repaired $repaired s later"
"$bin" object get "$id" -i "$work/key" -o "$work/back2" --relay "$relay" >/dev/null
cmp "$work/data" "$work/back2" && echo "read back byte-exact after repair"
if [[ -n "$json_out" ]]; then
  printf '{"size_mib": %s, "put_seconds": %s, "get_seconds": %s, "dead_after_seconds": %s, "repaired_seconds": %s}\n' \
    "$size_mib" "$put" "$get" "$dead" "$repaired" >"$json_out"
fi
