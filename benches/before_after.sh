# Sourced by the scripts that time two mkimage binaries side by side in one run
# (resolver_compare.sh, reuse_compare.sh): sets BEFORE (from MKIMAGE_BEFORE, required) and
# AFTER (from MKIMAGE_AFTER, target/release/mkimage by default), makes the scratch
# directory $work (removed on exit), and defines the helpers below.
BEFORE=${MKIMAGE_BEFORE:?set MKIMAGE_BEFORE to the mkimage binary to compare against}
AFTER=${MKIMAGE_AFTER:-$(pwd)/target/release/mkimage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The median of the numbers on standard input, one a line.
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# seeded_files DIR FILES KIB DIRS: FILES files of KIB KiB of incompressible bytes (seeded
# by their index, no network), spread over DIRS directories as DIR/dNNN/fNNNNNN.bin.
seeded_files() {
  python3 - "$@" <<'PY'
import hashlib, os, sys
root, files, kib, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(files):
    sub = os.path.join(root, "d%03d" % (i % dirs))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%06d.bin" % i), "wb") as f:
        f.write(hashlib.shake_256(b"mkimage-bench-%d" % i).digest(kib * 1024))
PY
}
