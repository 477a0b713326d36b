#!/usr/bin/env bash
# Disk bytes read per generated token by a plain whole-file mmap run (no --mem-budget) whose
# memory is capped by a cgroup v1 memory controller, against the model's size: the comparison
# for issue 6's point 4 (a budgeted streamed run reads model - resident bytes per token).
#
# For each limit, runs `nexus run -n N1` and `nexus run -n N2` inside a fresh memory cgroup
# with the model file's page cache dropped first, takes the block input each run caused
# (getrusage ru_inblock, via /usr/bin/time %I, 512-byte units) and divides the difference by
# N2 - N1: the load, the prompt pass and the process baseline cancel out.
#
# Needs root and a writable cgroup v1 memory hierarchy at /sys/fs/cgroup/memory.
# Usage: bench/mmap_reread.sh [NEXUS] [MODEL] [LIMITS...]
#   defaults: ./build/nexus /work/bench-models/b3-q4_k_m.gguf 1G 1536M
set -euo pipefail

nexus=${1:-./build/nexus}
model=${2:-/work/bench-models/b3-q4_k_m.gguf}
shift $(( $# < 2 ? $# : 2 ))
limits=("$@")
[ ${#limits[@]} -gt 0 ] || limits=(1G 1536M)
n1=${N1:-1}
n2=${N2:-9}
root=/sys/fs/cgroup/memory
cg="$root/nexus_mmap_reread_$$"

[ -w "$root" ] || { echo "mmap_reread: $root is not a writable cgroup v1 memory hierarchy" >&2; exit 1; }
[ -x "$nexus" ] || { echo "mmap_reread: no nexus binary at '$nexus'" >&2; exit 1; }
[ -r "$model" ] || { echo "mmap_reread: cannot read '$model'" >&2; exit 1; }

cleanup() {
  # Processes have exited by now; an empty cgroup can be removed.
  [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT

drop_cache() {
  python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"
}

# One run of `nexus run -n $2 --no-repack` (the file's layout, as mapped: the interleaved
# layouts would be copies in anonymous memory) in a fresh cgroup limited to $1; prints "<block input bytes>
# <wall s> <generation t/s> <limit hits> <cgroup peak bytes>".
one_run() {
  local limit=$1 n=$2 out
  mkdir "$cg"
  echo "$limit" > "$cg/memory.limit_in_bytes"
  drop_cache "$model"
  out=$(sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec /usr/bin/time -f "TIME %I %e" "$@"' sh "$cg" \
          "$nexus" run -m "$model" -p "Once upon a time" -n "$n" --temp 0 -c 1024 --no-repack 2>&1 >/dev/null)
  local failcnt max
  failcnt=$(cat "$cg/memory.failcnt")
  max=$(cat "$cg/memory.max_usage_in_bytes")
  rmdir "$cg"
  local blocks wall tps
  blocks=$(awk '/^TIME/ {print $2}' <<<"$out")
  wall=$(awk '/^TIME/ {print $3}' <<<"$out")
  tps=$(awk '/^generated:/ {for (i = 1; i <= NF; ++i) if ($i == "tokens/s") print $(i - 1)}' <<<"$out")
  [ -n "$blocks" ] || { echo "mmap_reread: run failed:" >&2; echo "$out" >&2; exit 1; }
  echo "$((blocks * 512)) $wall ${tps:-?} $failcnt $max"
}

size=$(stat -c %s "$model")
echo "model: $model ($size bytes); nexus run -n $n1 vs -n $n2, whole-file mmap (no --mem-budget), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| cgroup limit | read -n $n1 | read -n $n2 | read per token | / model size | gen t/s (-n $n2) | cgroup peak |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for limit in "${limits[@]}"; do
  r1=$(one_run "$limit" "$n1")
  r2=$(one_run "$limit" "$n2")
  read -r b1 _ _ _ _ <<<"$r1"
  read -r b2 _ tps2 _ max2 <<<"$r2"
  per=$(( (b2 - b1) / (n2 - n1) ))
  awk -v l="$limit" -v b1="$b1" -v b2="$b2" -v per="$per" -v size="$size" -v tps="$tps2" -v max="$max2" 'BEGIN {
    printf "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.3f | %s | %.1f MiB |\n", l, b1 / 2^20, b2 / 2^20, per / 2^20, per / size, tps, max / 2^20 }'
done
