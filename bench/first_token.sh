#!/usr/bin/env bash
# Time to first token under a budget against its bound (issue 6, point 5), run after run:
# `nexus bench --mem-budget B -p 0 -n 4 -r 1 -c 1024 --json` for each budget, ROUNDS times,
# one line per run. With HOLD_MIB set, another process (fresh_pages --hold) keeps that much
# fresh memory for the length of each run, so the run gets what a busier machine leaves
# (bench/NOTES.md section 14). Each run is followed, after the same pause, by
# `bench --resident-read-only` for the same budget: the resident part read alone into fresh
# memory by a process of its own, which starts where the run's load started; the first token
# is also held against that read + the run's streamed pass (section 15). The last lines give,
# per budget, how often the first token was within each bound and the median first token /
# bound over the rounds.
#
# Usage: bench/first_token.sh [NEXUS] [MODEL] [BUDGETS...]
#   defaults: ./build/nexus /work/bench-models/b3-q4_k_m.gguf 1G 1.5G; ROUNDS=3, HOLD_MIB unset
set -euo pipefail

nexus=${1:-./build/nexus}
model=${2:-/work/bench-models/b3-q4_k_m.gguf}
shift $(( $# < 2 ? $# : 2 ))
budgets=("$@")
[ ${#budgets[@]} -gt 0 ] || budgets=(1G 1.5G)
rounds=${ROUNDS:-3}
hold=${HOLD_MIB:-}
fresh_pages=${FRESH_PAGES:-$(dirname "$nexus")/bench/fresh_pages}

[ -x "$nexus" ] || { echo "first_token: no nexus binary at '$nexus'" >&2; exit 1; }
[ -r "$model" ] || { echo "first_token: cannot read '$model'" >&2; exit 1; }
if [ -n "$hold" ]; then
  [ -x "$fresh_pages" ] || { echo "first_token: HOLD_MIB needs fresh_pages (set FRESH_PAGES)" >&2; exit 1; }
fi

holder=
ratios=$(mktemp)  # one line per run: budget, first token / committed bound, first token / own-process bound
cleanup() { [ -z "$holder" ] || kill "$holder" 2>/dev/null || true; rm -f "$ratios"; }
trap cleanup EXIT

# Runs `nexus bench` with "$@" for budget $b, with the memory holder around it if asked.
bench_run() {
  if [ -n "$hold" ]; then
    "$fresh_pages" --threads 2 --hold 600 "$hold" > /dev/null &
    holder=$!
    sleep 2  # until its memory is faulted in
  fi
  "$nexus" bench -m "$model" -p 0 -n 4 -r 1 -c 1024 --mem-budget "$b" --json "$@" 2> /dev/null
  if [ -n "$holder" ]; then
    kill "$holder"; wait "$holder" 2> /dev/null || true; holder=
  fi
  sleep 4
}

for ((r = 1; r <= rounds; ++r)); do
  for b in "${budgets[@]}"; do
    # Each follows the other's kind of process as often: the order turns every round.
    if ((r % 2)); then
      json=$(bench_run)
      alone=$(bench_run --resident-read-only)
    else
      alone=$(bench_run --resident-read-only)
      json=$(bench_run)
    fi
    printf '%s\n%s\n' "$json" "$alone" | python3 -c '
import json, sys
budget, hold = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in sys.stdin if l.strip()]
j = [l for l in lines if l.get("test") != "resident_read"][-1]
a = [l for l in lines if l.get("test") == "resident_read"][-1]
t, b, ro = j["ttft_s"], j["ttft_bound_s"], j["ttft_bound_reads_only_s"]
pass_s = ro - j["resident_read_s"]
own = a["resident_fresh_read_s"] + pass_s
v = lambda bound: ("within" if t <= bound else "over") + " by %.0f ms" % (1e3 * abs(bound - t))
print("budget %s%s: first token %.3f s; bound %.3f s: %s (reads %.3f + touch %.3f + pass %.3f); reads only %.3f s: %s; "
      "read alone in its own process %.3f + pass = %.3f s: %s%s"
      % (budget, ", %s MiB held" % hold if hold else "", t, b, v(b), j["resident_read_s"], j["resident_touch_s"],
         pass_s, ro, v(ro), a["resident_fresh_read_s"], own, v(own),
         "" if a["resident_bytes"] == j["resident_bytes"] else
         " (that process planned %d bytes, the run copied %d)" % (a["resident_bytes"], j["resident_bytes"])))
with open(sys.argv[3], "a") as f:
    f.write("%s %.6f %.6f\n" % (budget, t / b, t / own))
' "$b" "$hold" "$ratios"
  done
done

# Per budget: how often the first token was within each bound, and the median of first token /
# bound (below 1: within). One run's verdict moves with the disk's rate of the moment (bench/NOTES.md
# section 16), so the medians over the rounds are the figures to hold against a tolerance.
python3 - "$ratios" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    budget, committed, own = line.split()
    runs.setdefault(budget, []).append((float(committed), float(own)))
for budget, rs in runs.items():
    c = [r[0] for r in rs]
    o = [r[1] for r in rs]
    print("budget %s, %d runs: within the committed bound in %d, median first token / bound %.3f; within the "
          "own-process reading in %d, median %.3f" % (budget, len(rs), sum(x <= 1 for x in c), statistics.median(c),
                                                       sum(x <= 1 for x in o), statistics.median(o)))
PY
