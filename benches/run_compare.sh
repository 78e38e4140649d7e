#!/bin/sh
# The cost of a `RUN true` step in `mkimage build` against `buildah bud` on the same
# busybox base, side by side in one run: each builds `FROM base` + `RUN true` and
# `FROM base` + `ENV` (no RUN) RUNS times without cache; the difference is what the RUN
# step costs (sandbox, overlay, diff, layer). Needs root, /bin/busybox (busybox-static)
# and buildah; prints medians in seconds and the ratios.
#
#   cargo build --release -p mkimage && benches/run_compare.sh [RUNS]
#   STEP='echo hi > /hi' benches/run_compare.sh   # a step that makes a layer
set -eu
RUNS=${1:-10}
STEP=${STEP:-true}
MKIMAGE=${MKIMAGE:-$(pwd)/target/release/mkimage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="$work/store"
buildah_() { buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay "$@"; }

# The base: the static busybox with its applet links, as an image of both builders.
mkdir -p "$work/base/rootfs/bin" "$work/base/rootfs/tmp" "$work/ctx"
cp /bin/busybox "$work/base/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/base/rootfs/bin/$applet"
done
printf 'FROM scratch\nCOPY rootfs/ /\n' >"$work/base/Dockerfile"
"$MKIMAGE" --root "$store" build -q -t bench-busybox -o "type=oci,dest=$work/busybox.tar" "$work/base" >/dev/null
buildah_ pull -q "oci-archive:$work/busybox.tar" >/dev/null
buildah_ tag "$(buildah_ images -q | head -n1)" localhost/bench-busybox
printf 'ARG BASE\nFROM $BASE\nRUN %s\n' "$STEP" >"$work/run.Dockerfile"
printf 'ARG BASE\nFROM $BASE\nENV A=1\n' >"$work/nop.Dockerfile"

# Median wall time of RUNS runs of a command, in seconds, after one run that must
# succeed (and warms the caches).
median() {
  "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
    i=$((i + 1))
  done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
mk() { "$MKIMAGE" --root "$store" build -q --no-cache --build-arg BASE=bench-busybox -f "$work/$1.Dockerfile" "$work/ctx"; }
ba() { buildah_ bud -q --layers=false --network host --runtime runc --build-arg BASE=localhost/bench-busybox -f "$work/$1.Dockerfile" "$work/ctx"; }

mk_run=$(median mk run)
mk_nop=$(median mk nop)
ba_run=$(median ba run)
ba_nop=$(median ba nop)
awk -v mr="$mk_run" -v mn="$mk_nop" -v br="$ba_run" -v bn="$ba_nop" 'BEGIN {
  printf "%-8s %12s %12s %12s\n", "builder", "with RUN", "no RUN", "RUN cost"
  printf "%-8s %12.3f %12.3f %12.3f\n", "mkimage", mr, mn, mr - mn
  printf "%-8s %12.3f %12.3f %12.3f\n", "buildah", br, bn, br - bn
  printf "mkimage/buildah: whole build %.2fx, RUN step %.2fx\n", mr / br, (mr - mn) / (br - bn)
}'
