#!/bin/sh
# What a CI runner's first build costs (issue 16), mkimage against docker BuildKit 20.10
# and the floors of this machine, side by side in one run:
#
#   cold       FROM REF + RUN true: mkimage in an empty store; BuildKit with docker's
#              images and build cache pruned (all of them)   floor: each layer blob fetched
#              from the registry with curl and `tar -xz` into an empty directory
#   run-true   --no-cache rebuild of FROM REF + RUN true, base already local
#   run-2000   --no-cache rebuild of FROM REF + a RUN writing 2,000 small files and
#              deleting /usr/share/doc, base already local
#   no-change  `build -t NAME` of FROM scratch + COPY . /app over FILES files of 8 KiB,
#              nothing changed                 floor: find CTX -type f -printf '%s %T@\n'
#
# With MKIMAGE_BEFORE set, that binary is timed too, alternating with MKIMAGE (after
# vs before in the same run). REF defaults to the lab's debian:bookworm; the lab
# (/work/shared/lab/setup-peers.sh, then `. ~/mkimage-lab/env.sh`) provides the registry
# on 127.0.0.1:5000 and dockerd. Needs root, curl, python3. Prints medians of RUNS runs in
# seconds and the ratios to BuildKit and to the floor.
#
#   cargo build --release -p mkimage && . ~/mkimage-lab/env.sh && benches/ci_compare.sh [RUNS] [FILES]
set -eu
RUNS=${1:-5}
FILES=${2:-20000}
REF=${REF:-127.0.0.1:5000/debian:bookworm}
MKIMAGE=${MKIMAGE:-$(pwd)/target/release/mkimage}
BEFORE=${MKIMAGE_BEFORE:-}
DOCKER=${DOCKER:-/usr/bin/docker}
: "${DOCKER_HOST:?source ~/mkimage-lab/env.sh first}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

registry=${REF%%/*}
repo=${REF#*/}
tag=${repo##*:}
repo=${repo%:*}

# Dockerfiles and contexts.
mkdir -p "$work/empty" "$work/floor"
printf 'FROM %s\nRUN true\n' "$REF" >"$work/run-true.Dockerfile"
printf 'FROM %s\nRUN mkdir /data && for i in $(seq 2000); do echo "$i" >/data/f$i; done && rm -rf /usr/share/doc\n' \
  "$REF" >"$work/run-2000.Dockerfile"
cp "$work/run-true.Dockerfile" "$work/cold.Dockerfile"
python3 - "$work/ctx" "$FILES" <<'PY'
import hashlib, os, sys
root, files = sys.argv[1], int(sys.argv[2])
for i in range(files):
    sub = os.path.join(root, "d%03d" % (i % 200))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%06d.bin" % i), "wb") as f:
        f.write(hashlib.shake_256(b"mkimage-bench-%d" % i).digest(8192))
PY
printf 'FROM scratch\nCOPY . /app\n' >"$work/no-change.Dockerfile"

# The layer blobs of REF, for the floor.
layers=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/$repo/manifests/$tag" |
  python3 -c 'import json, sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')

# Seconds one run of `$@` takes; its output is thrown away, a failure ends the script.
timed() {
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f", a[int((NR + 1) / 2)] }'; }

# The builders, each as: prepare (untimed) and build, for case $1.
mk_prepare() { # $1 binary, $2 store, $3 case
  case $3 in
    cold) rm -rf "$2" ;;
    *) [ -d "$2" ] || "$1" --root "$2" pull -q "$REF" >/dev/null ;;
  esac
}
mk_build() { # $1 binary, $2 store, $3 case
  case $3 in
    no-change) "$1" --root "$2" build -q -t bench/no-change -f "$work/no-change.Dockerfile" "$work/ctx" ;;
    cold) "$1" --root "$2" build -q -t bench/ci -f "$work/cold.Dockerfile" "$work/empty" ;;
    *) "$1" --root "$2" build -q --no-cache -t bench/ci -f "$work/$3.Dockerfile" "$work/empty" ;;
  esac
}
bk_prepare() { # $1 case
  if [ "$1" = cold ]; then
    "$DOCKER" rmi -f bench/ci "$REF" >/dev/null 2>&1 || true
    "$DOCKER" image prune -af >/dev/null
    "$DOCKER" builder prune -af >/dev/null
  fi
}
bk_build() { # $1 case
  cache=--no-cache
  [ "$1" != cold ] || cache=
  DOCKER_BUILDKIT=1 "$DOCKER" build -q $cache --network host -t bench/ci \
    -f "$work/$1.Dockerfile" "$work/empty"
}
floor_prepare() { # $1 case
  [ "$1" != cold ] || { rm -rf "$work/floor" && mkdir "$work/floor"; }
}
floor() { # $1 case
  case $1 in
    cold)
      for digest in $layers; do
        curl -fsS "http://$registry/v2/$repo/blobs/$digest" | tar -xzf - -C "$work/floor"
      done ;;
    no-change) find "$work/ctx" -type f -printf '%s %T@\n' ;;
  esac
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
sides="after"
[ -z "$BEFORE" ] || sides="before after"
printf '%-10s %9s %9s %9s %9s %10s %10s %10s\n' case mkimage before buildkit floor \
  mk/bk mk/floor mk/before
for case in cold run-true run-2000 no-change; do
  for side in $sides bk floor; do : >"$work/t-$side"; done
  i=0
  # One untimed run of each builder first (warms the page cache, fills the stores).
  while [ "$i" -le "$RUNS" ]; do
    for side in $sides; do
      bin=$MKIMAGE
      [ "$side" = after ] || bin=$BEFORE
      mk_prepare "$bin" "$work/store-$side" "$case"
      t=$(timed mk_build "$bin" "$work/store-$side" "$case")
      [ "$i" -eq 0 ] || echo "$t" >>"$work/t-$side"
    done
    if [ "$case" != no-change ]; then
      bk_prepare "$case"
      t=$(timed bk_build "$case")
      [ "$i" -eq 0 ] || echo "$t" >>"$work/t-bk"
    fi
    if [ "$case" = cold ] || [ "$case" = no-change ]; then
      floor_prepare "$case"
      t=$(timed floor "$case")
      [ "$i" -eq 0 ] || echo "$t" >>"$work/t-floor"
    fi
    i=$((i + 1))
  done
  mk=$(median <"$work/t-after")
  before=$(median <"$work/t-before")
  bk=$(median <"$work/t-bk")
  fl=$(median <"$work/t-floor")
  ratio() { [ -n "$2" ] && [ "$2" != 0.000 ] && printf '%.2f' "$(echo "$1 / $2" | bc -l)" || printf -- -; }
  printf '%-10s %9s %9s %9s %9s %10s %10s %10s\n' "$case" "$mk" "${before:--}" "${bk:--}" \
    "${fl:--}" "$(ratio "$mk" "$bk")" "$(ratio "$mk" "$fl")" "$(ratio "$mk" "$before")"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
