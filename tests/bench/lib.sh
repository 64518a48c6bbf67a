# Sourced by tests/bench/run and tests/bench/real: timing helpers. Needs $dir and $runs.

# best CMD... : "wall MB": the best wall time (s) of $runs runs, and the peak RSS over them.
# With BENCH_STRICT=1 a failing command ends the bench instead of being timed.
best() {
  local t0 t1 t m bt=999 bm=0
  for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    if ! /usr/bin/time -f "%M" -o "$dir/time" "$@" >/dev/null 2>"$dir/best.err" && [ "${BENCH_STRICT:-0}" = 1 ]; then
      echo "failed: $*" >&2
      cat "$dir/best.err" >&2
      exit 1
    fi
    t1=$(date +%s%N)
    t=$(awk "BEGIN {printf \"%.3f\", ($t1 - $t0) / 1e9}")
    m=$(tail -n 1 "$dir/time")
    if awk "BEGIN {exit !($t < $bt)}"; then bt=$t; fi
    if [ "$m" -gt "$bm" ]; then bm=$m; fi
  done
  echo "$bt $((bm / 1024))"
}

# median VALUES... : the median (the lower one of an even count)
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# ratio A B : A / B to two decimals
ratio() { awk "BEGIN {printf \"%.2f\", ($2 > 0) ? $1 / $2 : 0}"; }

# cell SECONDS MB : one table cell
cell() { echo "$1 s, $2 MB"; }
