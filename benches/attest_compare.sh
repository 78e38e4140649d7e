#!/bin/sh
# The cost of attestations (issue 18): the debian example built without them and with
# `--sbom=true --provenance=mode=max`, alternated in one run (which goes first
# alternates too), each into an OCI archive, from a store that already holds the base:
#
#   FROM debian:bookworm   (the name the archive gives it)
#   RUN --network=none dpkg-query -W > /packages.txt
#
# The base comes from an OCI archive, by default the lab's debootstrapped bookworm
# (`/work/shared/lab/setup-peers.sh` writes it), loaded before the timing. The SBOM reads
# every layer of the image and its dpkg database; the provenance adds the context's
# digest. The first build with attestations decompresses the base's layers, which the
# store's records then spare later builds: its time is printed on its own. Prints medians
# of RUNS runs in seconds, wall and CPU (user + system, steadier on a shared machine),
# with/without, and each side's spread. Needs root.
#
#   cargo build --release -p mkimage && benches/attest_compare.sh [RUNS] [ARCHIVE]
set -eu
RUNS=${1:-5}
ARCHIVE=${2:-$HOME/mkimage-lab/images/debian-bookworm.oci.tar}
MKIMAGE=${MKIMAGE:-$(pwd)/target/release/mkimage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

mkdir "$work/ctx"
name=$("$MKIMAGE" --root "$work/store" load -i "$ARCHIVE" | sed -n 's/^Loaded image: //p' | head -n1)
printf 'FROM %s\nRUN --network=none dpkg-query -W > /packages.txt\n' "$name" >"$work/ctx/Dockerfile"

# Prints "wall cpu" seconds of one build, with the attestation flags "$@".
timed() {
  /usr/bin/time -f '%e %U %S' -o "$work/time" "$MKIMAGE" --root "$work/store" build -q \
    --no-cache -o "type=oci,dest=$work/out.tar" "$@" "$work/ctx" \
    >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  awk '{ print $1, $2 + $3 }' "$work/time"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/without" && : >"$work/with"
i=0
while [ "$i" -lt "$RUNS" ]; do
  if [ $((i % 2)) -eq 0 ]; then
    timed --provenance=false >>"$work/without"
    timed --sbom=true --provenance=mode=max >>"$work/with"
  else
    timed --sbom=true --provenance=mode=max >>"$work/with"
    timed --provenance=false >>"$work/without"
  fi
  i=$((i + 1))
done
for column in 1 2; do
  label=wall
  [ "$column" = 2 ] && label=cpu
  a=$(awk -v c="$column" '{ print $c }' "$work/without" | median)
  b=$(awk -v c="$column" '{ print $c }' "$work/with" | median)
  awk -v l="$label" -v a="$a" -v b="$b" 'BEGIN {
    printf "%-4s without %.3f s  with %.3f s  with/without %.3f\n", l, a, b, b / a }'
done
echo "first with (reads the base's layers): $(head -n1 "$work/with") (wall cpu, s)"
echo "spread (wall, s): without $(cut -d' ' -f1 "$work/without" | sort -n | tr '\n' ' ')"
echo "                  with    $(cut -d' ' -f1 "$work/with" | sort -n | tr '\n' ' ')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
