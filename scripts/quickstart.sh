#!/usr/bin/env bash
# Installs what is needed, builds into build/, prepares the quickstart's demo model and keys under
# var/ (made on first start, git-ignored), and starts the gateway on examples/quickstart/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
ninja -C build -j"${JOBS:-2}"

mkdir -p var/models
[ -f var/models/demo.gguf ] || build/sovereign model make-demo var/models/demo.gguf
build/sovereign keys init --dir var/keys >/dev/null

exec build/sovereign serve --config examples/quickstart/gateway.yaml
