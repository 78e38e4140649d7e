#!/bin/sh
# The cost of checking the chunks a rebuilt `COPY` copies from its earlier layer
# (issue 13, store poisoning through layer reuse): `FROM scratch` + `COPY . /app` built
# with two mkimage binaries, BEFORE and AFTER, alternated in one run (which goes first
# alternates too), each in its own store. The context is FILES files of KB KiB of
# incompressible bytes in 200 directories (seeded, no network): the worst case for the
# check, since compressed chunks are as large as raw ones. For gzip and zstd:
#
#   cold               fresh store: every chunk compressed, and hashed for the index
#   one-file-changed   one file appended to since the last build: the other chunks are
#                      copied from the earlier layer, and checked against its index
#
# Prints medians of RUNS runs in seconds, wall and CPU, and AFTER/BEFORE.
#
#   MKIMAGE_BEFORE=/tmp/mkimage-main MKIMAGE_AFTER=target/release/mkimage \
#     benches/reuse_compare.sh [FILES] [KB] [RUNS]
set -eu
FILES=${1:-20000}
KB=${2:-8}
RUNS=${3:-5}
. "$(dirname "$0")/before_after.sh"
ctx="$work/ctx"

seeded_files "$ctx" "$FILES" "$KB" 200
printf 'FROM scratch\nCOPY . /app\n' >"$ctx/Dockerfile"

# "wall cpu" seconds (cpu: user + system) of a build with binary $1 into store $2,
# compression $3. CPU time is reported too: on a machine shared with other work, wall
# time varies far more than what the build itself costs.
timed() {
  /usr/bin/time -f '%e %U %S' -o "$work/time" \
    "$1" --root "$2" build -q --compression "$3" "$ctx" >/dev/null
  awk '{ print $1, $2 + $3 }' "$work/time"
}
# The median of column $2 of file $1.
column_median() { awk -v c="$2" '{ print $c }' "$1" | median; }

printf '%-5s %-17s %-4s %10s %10s %12s\n' codec case time before after after/before
for codec in gzip zstd; do
  for case in cold one-file-changed; do
    : >"$work/before" && : >"$work/after"
    rm -rf "$work/store-before" "$work/store-after"
    if [ "$case" = one-file-changed ]; then
      "$BEFORE" --root "$work/store-before" build -q --compression "$codec" "$ctx" >/dev/null
      "$AFTER" --root "$work/store-after" build -q --compression "$codec" "$ctx" >/dev/null
    fi
    i=0
    while [ "$i" -lt "$RUNS" ]; do
      if [ "$case" = cold ]; then
        rm -rf "$work/store-before" "$work/store-after"
      else
        printf 'changed %s\n' "$i" >>"$ctx/d000/f000000.bin"
      fi
      order="before after"
      [ $((i % 2)) -eq 0 ] || order="after before"
      for side in $order; do
        bin=$BEFORE
        [ "$side" = before ] || bin=$AFTER
        timed "$bin" "$work/store-$side" "$codec" >>"$work/$side"
      done
      i=$((i + 1))
    done
    for column in 1 2; do
      b=$(column_median "$work/before" $column)
      a=$(column_median "$work/after" $column)
      kind=wall
      [ $column = 1 ] || kind=cpu
      printf '%-5s %-17s %-4s %10.3f %10.3f %12.3f\n' "$codec" "$case" "$kind" "$b" "$a" "$(echo "$a / $b" | bc -l)"
    done
  done
done
