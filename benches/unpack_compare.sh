#!/bin/sh
# The cost of placing a layer's paths one name at a time, as overlayfs shows them
# (issue 13, e67acc5, instead of one `openat2` per entry): builds on a real base image
# with two mkimage binaries, BEFORE and AFTER, alternated in one run (which goes first
# alternates too), each in its own store:
#
#   run        FROM REF + RUN --network=none true, in an empty store each time: pull,
#              unpack the base in overlay format (`unpack_overlay`), run the step
#   copyfrom   FROM REF AS base, FROM scratch, COPY --from=base /usr /u, without cache:
#              the base unpacked into a merged tree (`unpack`), /usr copied into a layer
#   local      FROM REF -o type=local,dest=DIR, DIR empty each time: the base unpacked
#              into DIR (`unpack`)
#
# copyfrom and local start from a store that already holds REF (pulled before the
# timing), so the unpack is not hidden behind the pull. REF defaults to the lab's
# debian:bookworm (`/work/shared/lab/setup-peers.sh`: a registry on 127.0.0.1:5000,
# reached over plain HTTP as every loopback registry is). Prints medians of RUNS runs in
# seconds, wall and CPU (user + system, steadier on a shared machine), AFTER/BEFORE, the
# spread (min-max) of each side, and the load average before and after. Needs root.
#
#   MKIMAGE_BEFORE=/tmp/mkimage-before MKIMAGE_AFTER=target/release/mkimage \
#     benches/unpack_compare.sh [RUNS] [REF]
set -eu
RUNS=${1:-5}
REF=${2:-127.0.0.1:5000/debian:bookworm}
. "$(dirname "$0")/before_after.sh"

printf 'FROM %s\nRUN --network=none true\n' "$REF" >"$work/run.Dockerfile"
printf 'FROM %s AS base\nFROM scratch\nCOPY --from=base /usr /u\n' "$REF" >"$work/copyfrom.Dockerfile"
printf 'FROM %s\n' "$REF" >"$work/local.Dockerfile"
mkdir "$work/ctx"

# Prints "wall cpu" seconds of one build of case $3 with binary $1 into store $2.
timed() {
  bin=$1 store=$2 case=$3
  set -- --root "$store" build -q --no-cache -f "$work/$case.Dockerfile"
  if [ "$case" = local ]; then
    rm -rf "$work/out" && mkdir "$work/out"
    set -- "$@" -o "type=local,dest=$work/out"
  fi
  /usr/bin/time -f '%e %U %S' -o "$work/time" "$bin" "$@" "$work/ctx" \
    >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  awk '{ print $1, $2 + $3 }' "$work/time"
}
# The median, min and max of column $2 of file $1, as "median min-max".
column_stats() {
  m=$(awk -v c="$2" '{ print $c }' "$1" | median)
  awk -v c="$2" -v m="$m" 'NR == 1 || $c < lo { lo = $c } NR == 1 || $c > hi { hi = $c }
    END { printf "%.3f %.3f-%.3f", m, lo, hi }' "$1"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for side in before after; do
  bin=$BEFORE
  [ "$side" = before ] || bin=$AFTER
  "$bin" --root "$work/pulled-$side" pull -q "$REF" >/dev/null
done
printf '%-9s %-4s %8s %13s %8s %13s %12s\n' case time before spread after spread after/before
for case in run copyfrom local; do
  : >"$work/before" && : >"$work/after"
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    order="before after"
    [ $((i % 2)) -eq 0 ] || order="after before"
    for side in $order; do
      bin=$BEFORE
      [ "$side" = before ] || bin=$AFTER
      store="$work/pulled-$side"
      if [ "$case" = run ]; then
        store="$work/empty-$side"
        rm -rf "$store"
      fi
      timed "$bin" "$store" "$case" >>"$work/$side"
    done
    i=$((i + 1))
  done
  for column in 1 2; do
    kind=wall
    [ $column = 1 ] || kind=cpu
    set -- $(column_stats "$work/before" $column) $(column_stats "$work/after" $column)
    printf '%-9s %-4s %8s %13s %8s %13s %12.3f\n' "$case" "$kind" "$1" "$2" "$3" "$4" \
      "$(echo "$3 / $1" | bc -l)"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
