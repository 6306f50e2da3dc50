#!/usr/bin/env bash
# Build a llama-server image from the binary `make llama-server` built (build/llama.cpp/bin/llama-server), with no
# registry: the binary and the shared libraries it links, in an otherwise empty image (`docker import`). For
# machines without access to ghcr.io, and for the tests, which run deploy/compose/docker-compose.yml with it:
#   LLAMA_SERVER_IMAGE=codeassist-llama-server:local docker-compose up -d
# Idempotent: an image labelled with the same binary hash is kept. Usage: local-image.sh [TAG] [DOCKER_HOST]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/build/llama.cpp/bin/llama-server"
TAG="${1:-codeassist-llama-server:local}"
if [[ -n "${2:-}" ]]; then export DOCKER_HOST="$2"; fi
[[ -x "$BIN" ]] || { echo "local-image: $BIN not built (make llama-server)" >&2; exit 1; }
HASH="$(sha256sum "$BIN" | cut -c1-16)"
if [[ "$(docker image inspect -f '{{index .Config.Labels "codeassist.binary"}}' "$TAG" 2>/dev/null || true)" == "$HASH" ]]; then
  echo "up to date: $TAG"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/usr/local/bin" "$tmp/root/tmp"
chmod 1777 "$tmp/root/tmp"
cp "$BIN" "$tmp/root/usr/local/bin/llama-server"
for lib in $(ldd "$BIN" | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}'); do
  mkdir -p "$tmp/root$(dirname "$lib")"
  cp -L "$lib" "$tmp/root$lib"
done
tar -C "$tmp/root" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/llama-server"]' \
  --change 'EXPOSE 8080' \
  --change "LABEL codeassist.binary=$HASH" \
  --change 'LABEL codeassist.owner=codeassist' - "$TAG" >/dev/null
echo "built $TAG"
