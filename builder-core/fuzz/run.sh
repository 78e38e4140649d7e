#!/usr/bin/env bash
# Fuzzes one target for a while, in a sandbox:  run.sh TARGET SECONDS [libFuzzer flags...]
# Minimizes its corpus (libFuzzer's -merge=1, as `cargo fuzz cmin` does):  run.sh TARGET cmin
#
# The fuzzer runs as root (so that the unpack target creates devices and sets owners as the
# store does) in a private mount namespace where every mount is read-only except a 512 MiB
# tmpfs for its temp directories and the target's corpus and artifact directories. A layer
# that wrote outside its root would fail with EROFS, which the unpack target reports as a
# crash, and could not change the host; the tmpfs must be empty at the end.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain, RUSTC_BOOTSTRAP=1
# lets rustc accept the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=$2
shift 2

RUSTC_BOOTSTRAP=1 cargo fuzz build -O "$target"
# cargo-fuzz builds for the host's target triple.
binary=$PWD/target/$(rustc -vV | sed -n 's/^host: //p')/release/$target
corpus=$PWD/corpus/$target
artifacts=$PWD/artifacts/$target
scratch=$(mktemp -d /tmp/mkimage-fuzz.XXXXXX)
full=
# However the run ends, the scratch directory goes, and a minimization that did not
# finish puts the full corpus back rather than leave a partial one to be committed.
finish() {
  rmdir "$scratch"
  if [[ -n $full && -d $full ]]; then
    rm -rf "$corpus"
    mv "$full" "$corpus"
  fi
}
trap finish EXIT
mkdir -p "$corpus" "$artifacts"
if [[ $seconds == cmin ]]; then
  # The full corpus moves aside; what adds an edge is merged back into an empty one (not
  # what only adds a hit count, -use_counters=0, so the committed corpus stays small).
  full=$PWD/corpus/.$target-full
  mv "$corpus" "$full"
  mkdir "$corpus"
  set -- -merge=1 -use_counters=0 "$full" "$@"
else
  set -- -dict="dict/$target.dict" -max_total_time="$seconds" -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
fi

export binary corpus artifacts scratch full
unshare --mount --propagation private -- bash -euo pipefail -c '
    mount -t tmpfs -o size=512m,mode=0700 mkimage-fuzz "$scratch"
    for dir in "$corpus" "$artifacts" $full; do mount --bind "$dir" "$dir"; done
    findmnt -rno TARGET | while read -r mount; do
        case "$mount" in "$scratch" | "$corpus" | "$artifacts" | "$full") continue ;; esac
        mount -o remount,bind,ro "$mount"
    done
    TMPDIR=$scratch nice -n 10 "$binary" "$corpus" -rss_limit_mb=2048 "$@"
    if [ -n "$(ls -A "$scratch")" ]; then
        echo "run.sh: the scratch tmpfs is not empty:" >&2
        ls -la "$scratch" >&2
        exit 1
    fi
' run.sh "$@"
if [[ -n $full ]]; then rm -r "$full"; fi
