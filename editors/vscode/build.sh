#!/usr/bin/env bash
# Build the VS Code extension and package it as a .vsix, offline once the npm cache is warm.
#
#   editors/vscode/build.sh            # npm ci (only if needed) + tsc + vsce package -> editors/vscode/codeassist.vsix
#   editors/vscode/build.sh --test     # ... and run `npm test` (needs a working `codeassist serve`) before packaging
#   editors/vscode/build.sh --no-package --test
#   VSIX=/path/out.vsix editors/vscode/build.sh
#
# Idempotent: `npm ci` is skipped when node_modules was installed from the current package-lock.json (stamp file).
set -euo pipefail
cd "$(dirname "$0")"

run_tests=0
package=1
for arg in "$@"; do
  case "$arg" in
    --test) run_tests=1 ;;
    --no-package) package=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

command -v node >/dev/null || { echo "build.sh: node not found (need Node >= 20)" >&2; exit 127; }
command -v npm >/dev/null || { echo "build.sh: npm not found" >&2; exit 127; }
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

stamp=node_modules/.codeassist-lock.sha256
want="$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "== node_modules matches package-lock.json; skipping npm ci"
else
  echo "== npm ci (prefer offline cache)"
  npm ci --prefer-offline --no-audit --no-fund
  echo "$want" > "$stamp"
fi

echo "== npm run build"
npm run --silent build

if (( run_tests )); then
  echo "== npm test"
  npm test
fi

if (( package )); then
  vsix="${VSIX:-$PWD/codeassist.vsix}"
  echo "== vsce package -> $vsix"
  # vsce runs vscode:prepublish (the tsc build) again; stdin closed so it can never wait on a prompt.
  npx --no-install vsce package --allow-missing-repository -o "$vsix" < /dev/null
fi
