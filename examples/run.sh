#!/usr/bin/env bash
# `make run`: build and load the example component, allow it API_KEY, and serve MCP over
# streamable HTTP at 127.0.0.1:9001/mcp. Idempotent: rebuilds only when the source changes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
NAME=api-key-check
SRC=examples/$NAME
BIND=${WASSETTE_RUN_BIND:-127.0.0.1:9001}

hash=$(cat "$SRC/app.py" "$SRC"/wit/*.wit | sha256sum | cut -c1-16)
out=.cache/examples/$NAME-$hash.wasm
if [ ! -f "$out" ]; then
  mkdir -p .cache/examples
  echo "building the example component $NAME (componentize-py, ~10 s) ..." >&2
  (cd "$SRC" && "../../$BIN/componentize-py" -d wit -w "$NAME" componentize app -o "../../$out.tmp" >/dev/null)
  mv "$out.tmp" "$out"
fi

dir=$("$BIN/python" -c 'from wassette.config import load_settings; print(load_settings().plugin_dir)')
if ! cmp -s "$out" "$dir/$NAME.wasm"; then
  echo "loading $NAME into $dir (compiles once, ~5 s) ..." >&2
  mkdir -p .cache/examples/stage
  cp "$out" ".cache/examples/stage/$NAME.wasm"
  "$BIN/wassette" component load "file://$PWD/.cache/examples/stage/$NAME.wasm" >/dev/null
fi
"$BIN/wassette" permission grant environment-variable "$NAME" API_KEY >/dev/null

cat >&2 <<MSG

wassette MCP server: http://$BIND/mcp (streamable HTTP; Ctrl-C to stop)

  Connect an MCP client to that URL, e.g.:
    npx @modelcontextprotocol/inspector --cli http://$BIND/mcp --method tools/list
  Give the example its secret (from another terminal; the next call sees it, no restart):
    $PWD/$BIN/wassette secret set $NAME API_KEY=<your key>
  Then call its tool "check-api-key" (or "greet" with {"name": "you"}).

  The same server over stdio, for an MCP client's config file:
$("$BIN/python" -c 'import json,sys; print(json.dumps({"mcpServers": {"wassette": {"command": sys.argv[1], "args": ["serve", "--stdio"]}}}, indent=2))' "$PWD/$BIN/wassette" | sed 's/^/    /')

MSG
exec "$BIN/wassette" serve --streamable-http --bind-address "$BIND"
