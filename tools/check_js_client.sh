#!/usr/bin/env bash
# `make check-js`: Polymarket's official TypeScript client against a default `dualmm sim-server`
# (tools/check_js_client.mjs). Installs the client into var/jsclient with npm (needs node and
# the npm registry: not part of `make test`), starts a simulator on a free port, runs the
# checks, and stops the simulator however the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "check-js: needs node and npm on PATH" >&2
  exit 2
}
client_dir="$(realpath -m "${CLOB_CLIENT_DIR:-var/jsclient}")"
mkdir -p "$client_dir"
npm install --silent --no-audit --no-fund --prefix "$client_dir" @polymarket/clob-client-v2 ethers@5
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
out="$(mktemp)"
.venv/bin/dualmm sim-server --port "$port" >"$out" 2>&1 &
sim=$!
trap 'kill "$sim" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
  key="$(grep -o 'private key: 0x[0-9a-fA-F]\{64\}' "$out" | cut -d' ' -f3 || true)"
  [ -n "$key" ] && break
  sleep 0.1
done
[ -n "${key:-}" ] || { echo "check-js: the simulator did not start:" >&2; cat "$out" >&2; exit 1; }
CLOB_CLIENT_DIR="$client_dir" node tools/check_js_client.mjs "http://127.0.0.1:$port" "$key"
