#!/usr/bin/env bash
# System packages: Docker engine (the sandbox), mmdebstrap (offline sandbox image build), a C++ toolchain for
# llama-server and openssl. Idempotent.
# With arguments, installs those packages instead (scripts/install-vscode-e2e.sh: chromium libkrb5-dev).
set -euo pipefail
# cmake, g++: llama-server (make llama-server); openssl: test certificates; docker-compose: deploy/compose tests;
# openssh-server/-client: ssh:// Docker engines (tests/remote/test_docker_ssh.py); iproute2: the second test dockerd's
# own bridge (tests/remote/dockerd.py)
PKGS=(docker.io mmdebstrap cmake g++ openssl docker-compose openssh-server openssh-client iproute2)
if [ $# -gt 0 ]; then PKGS=("$@"); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt packages present: ${PKGS[*]}"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "need root to install: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
