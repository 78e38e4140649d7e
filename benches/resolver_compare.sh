#!/bin/sh
# The cost of resolving mount and COPY sources inside their root (issue 13): the same
# builds with two mkimage binaries, BEFORE and AFTER, alternated in one run, each in its
# own store, without cache. A stage holds FILES files of 4 KiB in 20 directories
# (seeded, no network); the builds then
#
#   copy      COPY data /data                        (the build context)
#   copyfrom  COPY --from=src /data /copy            (a stage)
#   bind      RUN --mount=from=src,source=/data ...  (read-only bind of a stage)
#   bindrw    the same with rw                       (a copy of the tree for the step)
#   run       RUN true                               (the sandbox alone)
#
# Each build includes the `src` stage, the same for both binaries. Prints medians of RUNS
# runs in seconds and AFTER/BEFORE; needs root and /bin/busybox (busybox-static).
#
#   MKIMAGE_BEFORE=/tmp/mkimage-main MKIMAGE_AFTER=target/release/mkimage \
#     benches/resolver_compare.sh [FILES] [RUNS]
set -eu
FILES=${1:-4000}
RUNS=${2:-9}
. "$(dirname "$0")/before_after.sh"

# The base: the static busybox with its applet links, in both stores.
mkdir -p "$work/base/rootfs/bin" "$work/base/rootfs/tmp" "$work/ctx"
cp /bin/busybox "$work/base/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/base/rootfs/bin/$applet"
done
printf 'FROM scratch\nCOPY rootfs/ /\n' >"$work/base/Dockerfile"
for which in before after; do
  if [ "$which" = before ]; then bin=$BEFORE; else bin=$AFTER; fi
  "$bin" --root "$work/store-$which" build -q -t bench-busybox "$work/base" >/dev/null
done

seeded_files "$work/ctx/data" "$FILES" 4 20

src='FROM bench-busybox AS src\nCOPY data /data\nFROM bench-busybox\n'
printf 'FROM bench-busybox\nCOPY data /data\n' >"$work/copy.Dockerfile"
printf "${src}COPY --from=src /data /copy\n" >"$work/copyfrom.Dockerfile"
printf "${src}RUN --mount=from=src,source=/data,target=/d ls -R /d >/dev/null\n" \
  >"$work/bind.Dockerfile"
printf "${src}RUN --mount=from=src,source=/data,target=/d,rw ls -R /d >/dev/null\n" \
  >"$work/bindrw.Dockerfile"
printf 'FROM bench-busybox\nRUN true\n' >"$work/run.Dockerfile"

# Seconds one build takes.
timed() {
  bin=$1 store=$2 case=$3
  start=$(date +%s.%N)
  "$bin" --root "$store" build -q --no-cache -f "$work/$case.Dockerfile" "$work/ctx" \
    >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

printf '%-9s %10s %10s %12s\n' case before after after/before
for case in copy copyfrom bind bindrw run; do
  # One unmeasured build each warms the page cache and the unpacked layers.
  timed "$BEFORE" "$work/store-before" "$case" >/dev/null
  timed "$AFTER" "$work/store-after" "$case" >/dev/null
  : >"$work/before.times"
  : >"$work/after.times"
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    timed "$BEFORE" "$work/store-before" "$case" >>"$work/before.times"
    timed "$AFTER" "$work/store-after" "$case" >>"$work/after.times"
    i=$((i + 1))
  done
  b=$(median <"$work/before.times")
  a=$(median <"$work/after.times")
  awk -v c="$case" -v b="$b" -v a="$a" 'BEGIN { printf "%-9s %10.3f %10.3f %12.3f\n", c, b, a, a / b }'
done
