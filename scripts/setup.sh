#!/usr/bin/env bash
# Installs every Debian package the build and the tests need, and the npm packages the
# integration tests use. Idempotent: a second run installs nothing and returns quickly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential pkg-config meson ninja-build
  libboost1.81-dev libssl-dev libsodium-dev libyaml-cpp-dev prometheus-cpp-dev
  libvectorscan-dev libicu-dev doctest-dev
  openssl curl nginx wrk prometheus python3
  valgrind  # gateway_bench.sh --instructions counts what each proxy executes per request
  systemd   # systemd-analyze checks examples/deploy/sovereign.service (nothing is started)
)
# Node.js and npm run the official openai client in the tests; a machine that already has node
# (which bundles npm) keeps its own, since Debian's npm package conflicts with such builds.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's nginx package starts a system service on port 80; the tests and the benchmark start
# their own nginx on loopback ports, so the packaged one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl stop nginx || true
fi

if [ ! -d "$here/tests/integration/node_modules/openai" ]; then
  echo "setup: installing npm packages for tests"
  (cd "$here/tests/integration" && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
     || npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
