#!/bin/sh
# Push and pull of a ~50 MB image (five 10 MiB layers of incompressible bytes, gzip) by
# `mkimage push`/`mkimage pull` against `skopeo copy` of the same image, on the same
# local `docker-registry`, side by side in one run. Each push goes to a registry with
# empty storage (so neither tool can skip or mount a blob); each pull goes to an empty
# store or layout. Needs docker-registry and skopeo; prints medians in seconds and the
# ratios mkimage / skopeo.
#
#   cargo build --release -p mkimage && benches/registry_compare.sh [RUNS]
set -eu
RUNS=${1:-5}
MKIMAGE=${MKIMAGE:-$(pwd)/target/release/mkimage}
work=$(mktemp -d)
registry_pid=
stop_registry() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=
  fi
}
trap 'stop_registry; rm -rf "$work"' EXIT

# A registry on a free port with fresh storage; sets $host.
start_registry() {
  stop_registry
  rm -rf "$work/registry"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  host="127.0.0.1:$port"
  cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $host
EOF
  docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
  registry_pid=$!
  until curl -fs "http://$host/v2/" >/dev/null; do sleep 0.05; done
}

# The image, built by mkimage into its store (an OCI layout skopeo reads as `oci:`).
mkdir -p "$work/ctx"
printf 'FROM scratch\n' >"$work/ctx/Dockerfile"
for layer in 1 2 3 4 5; do
  head -c 10485760 /dev/urandom >"$work/ctx/layer$layer.bin"
  printf 'COPY layer%s.bin /\n' "$layer" >>"$work/ctx/Dockerfile"
done
store="$work/store"
"$MKIMAGE" --root "$store" build -q -t bench/big:1 "$work/ctx" >/dev/null
size=$(du -sm "$store/blobs" | cut -f1)

# Wall time of a command, in seconds.
timed() {
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$work/push-mkimage"
: >"$work/push-skopeo"
: >"$work/pull-mkimage"
: >"$work/pull-skopeo"
i=0
while [ "$i" -lt "$RUNS" ]; do
  start_registry
  timed "$MKIMAGE" --root "$store" push -q bench/big:1 "$host/bench/big:1" >>"$work/push-mkimage"
  rm -rf "$work/pulled"
  timed "$MKIMAGE" --root "$work/pulled" pull -q "$host/bench/big:1" >>"$work/pull-mkimage"
  rm -rf "$work/layout"
  timed skopeo copy --src-tls-verify=false "docker://$host/bench/big:1" "oci:$work/layout:big" >>"$work/pull-skopeo"
  start_registry
  timed skopeo copy --dest-tls-verify=false "oci:$store:docker.io/bench/big:1" "docker://$host/bench/big:1" >>"$work/push-skopeo"
  i=$((i + 1))
done

push_m=$(median <"$work/push-mkimage")
push_s=$(median <"$work/push-skopeo")
pull_m=$(median <"$work/pull-mkimage")
pull_s=$(median <"$work/pull-skopeo")
echo "image: ${size} MB of blobs, 5 gzip layers; median of $RUNS runs, seconds"
echo "push  mkimage $push_m  skopeo $push_s  ratio $(echo "scale=2; $push_m / $push_s" | bc)"
echo "pull  mkimage $pull_m  skopeo $pull_s  ratio $(echo "scale=2; $pull_m / $pull_s" | bc)"
