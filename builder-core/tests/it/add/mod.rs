//! `ADD` beyond `COPY`: archives made by GNU tar and Python's `tarfile`, downloads from a
//! server the test starts on 127.0.0.1.

mod archive;
mod url;

use std::path::Path;
use std::process::Command;

use mkimage_core::testutil::run_checked;

/// Runs `program` with `args` in `dir`; fails naming the Debian package when the program
/// is missing or fails.
pub(crate) fn run_in(dir: &Path, program: &str, package: &str, args: &[&str]) {
    run_checked(Command::new(program).args(args).current_dir(dir), package)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Writes a tar to `path` with Python's `tarfile`, from Python statements that call
/// `add(name, type, data=b"", link="", mode=0o644, uid=0, gid=0, mtime=0)` in order;
/// `type` is a `tarfile` type constant (`REGTYPE`, `DIRTYPE`, `SYMTYPE`, `LNKTYPE`).
pub(crate) fn python_tar(path: &Path, body: &str) {
    let script = format!(
        r#"
import io, sys, tarfile
from tarfile import REGTYPE, DIRTYPE, SYMTYPE, LNKTYPE, FIFOTYPE
out = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, type, data=b"", link="", mode=0o644, uid=0, gid=0, mtime=0):
    info = tarfile.TarInfo(name)
    info.type = type
    info.size = len(data)
    info.linkname = link
    info.mode = mode
    info.uid, info.gid, info.mtime = uid, gid, mtime
    out.addfile(info, io.BytesIO(data) if type == REGTYPE else None)
{body}
out.close()
"#
    );
    let path = path.to_str().expect("UTF-8 test path");
    run_in(Path::new("."), "python3", "python3", &["-c", &script, path]);
}
