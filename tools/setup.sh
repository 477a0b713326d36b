#!/usr/bin/env bash
# Installs what building and testing Nexus needs on Debian 12 (idempotent).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-pip
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libzstd-dev liburing-dev libpcre2-dev
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The openai Python SDK for the `nexus serve` integration tests (tests/server/), into a
# project-local folder (no system or user site-packages touched); ctest points PYTHONPATH at it.
pydeps="${NEXUS_PYDEPS:-$HOME/.cache/nexus/pydeps}"
if ! PYTHONPATH="$pydeps" python3 -c "import openai" 2>/dev/null; then
  echo "setup: installing the openai Python package into $pydeps" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --target "$pydeps" openai >&2 ||
    echo "setup: could not install openai; the server SDK tests will skip" >&2
fi
