#!/bin/sh
# The build cache and cold builds of `mkimage build` against the floor on this machine and
# against buildah, side by side in one run (issue 4, "Benchmarks"). Two contexts are
# generated (seeded, no network): FILES files of KB KiB in 200 directories of
# incompressible bytes, and the same number of source-like text files. The Dockerfile is
# `FROM scratch`, `COPY . /app` and five config steps, built with `-t` as users do (so
# re-tagging an unchanged image is in every figure). For each context it measures:
#
#   cold gzip / cold zstd   fresh store          vs  tar -cf - CTX | pigz -p NPROC / zstd -T0
#   no-change rebuild       warm store           vs  find CTX -type f -printf '%s %T@\n'
#   one-file-changed        one file changed     vs  tar -cf - CTX | sha256sum (read and hash once)
#   peak RSS (KiB) of every mkimage run, from /usr/bin/time
#
# and, when buildah is installed, `buildah bud --layers` cold and no-change. Prints
# medians of RUNS runs in seconds and the ratios to the floors.
#
#   cargo build --release -p mkimage && benches/compare.sh [FILES] [KB] [RUNS]
set -eu
FILES=${1:-20000}
KB=${2:-8}
RUNS=${3:-3}
MKIMAGE=${MKIMAGE:-$(pwd)/target/release/mkimage}
NPROC=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Seeded contexts: incompressible (SHAKE-256 of the index) and source-like text.
python3 - "$work" "$FILES" "$KB" <<'PY'
import hashlib, os, sys
work, files, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dirs, size = 200, kb * 1024
words = [b"fn", b"let", b"mut", b"self", b"return", b"match", b"value", b"error", b"path",
         b"Result", b"Ok", b"impl", b"struct", b"pub", b"use", b"for", b"in", b"if", b"else"]
for name in ("noise", "source"):
    for i in range(files):
        sub = os.path.join(work, name, "d%03d" % (i % dirs))
        os.makedirs(sub, exist_ok=True)
        if name == "noise":
            data = hashlib.shake_256(b"mkimage-bench-%d" % i).digest(size)
        else:
            seed = hashlib.sha256(b"src-%d" % i).digest()
            out, n = [], 0
            while n < size:
                line = b"    " + b" ".join(words[(seed[(n + k) % 32] + k) % len(words)]
                                         for k in range(8)) + b";\n"
                out.append(line)
                n += len(line)
            data = b"".join(out)[:size]
        path = os.path.join(sub, "f%06d.%s" % (i, "bin" if name == "noise" else "rs"))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (1700000000, 1700000000))
PY
for ctx in noise source; do
  printf 'FROM scratch\nCOPY . /app\nENV A=1\nLABEL b=2\nUSER 1000\nEXPOSE 80\nCMD ["/app/run"]\n' \
    >"$work/$ctx/Dockerfile"
done

# Median of RUNS runs of the command `$@` (after the function `prepare`, untimed), in
# seconds; the peak RSS of the last run goes to $work/rss.
median() {
  prepare=$1
  shift
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    $prepare
    start=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
    i=$((i + 1))
  done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
nothing() { :; }
fresh() { rm -rf "$work/store"; }
# Rewrites the first file of the context being measured.
touch_one() { printf 'changed %s\n' "$(date +%s%N)" >>"$(ls -d "$c"/d000/f000000.*)"; }

printf '%-8s %-22s %10s %10s %8s %10s\n' context case mkimage floor ratio "rss KiB"
for ctx in noise source; do
  c="$work/$ctx"
  mk="$MKIMAGE --root $work/store build -q -t bench/compare"
  for codec in gzip zstd; do
    t=$(median fresh $mk --compression "$codec" "$c")
    rss=$(cat "$work/rss")
    case $codec in
      gzip) f=$(median nothing sh -c "tar -cf - -C '$c' . | pigz -p $NPROC >/dev/null") ;;
      zstd) f=$(median nothing sh -c "tar -cf - -C '$c' . | zstd -q -T0 >/dev/null") ;;
    esac
    printf '%-8s %-22s %10.3f %10.3f %8.2f %10s\n' "$ctx" "cold $codec" "$t" "$f" "$(echo "$t / $f" | bc -l)" "$rss"
  done
  fresh
  $mk "$c" >/dev/null
  t=$(median nothing $mk "$c")
  rss=$(cat "$work/rss")
  f=$(median nothing sh -c "find '$c' -type f -printf '%s %T@\n' >/dev/null")
  printf '%-8s %-22s %10.3f %10.3f %8.2f %10s\n' "$ctx" "no-change" "$t" "$f" "$(echo "$t / $f" | bc -l)" "$rss"
  t=$(median touch_one $mk "$c")
  rss=$(cat "$work/rss")
  f=$(median nothing sh -c "tar -cf - -C '$c' . | sha256sum >/dev/null")
  printf '%-8s %-22s %10.3f %10.3f %8.2f %10s\n' "$ctx" "one-file-changed" "$t" "$f" "$(echo "$t / $f" | bc -l)" "$rss"

  if command -v buildah >/dev/null 2>&1; then
    ba="buildah --root $work/buildah --runroot $work/buildah-run --storage-driver overlay"
    ba_fresh() { $ba rmi -a -f >/dev/null 2>&1 || true; }
    t=$(median ba_fresh $ba bud -q --layers "$c")
    printf '%-8s %-22s %10.3f\n' "$ctx" "buildah cold" "$t"
    t=$(median nothing $ba bud -q --layers "$c")
    printf '%-8s %-22s %10.3f\n' "$ctx" "buildah no-change" "$t"
  fi
done
