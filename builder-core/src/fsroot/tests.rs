//! Hostile trees: symlinks and `..` that would lead out of a root if followed on the host.

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;

const CANARY: &str = "host canary\n";

/// A temporary directory with `host/canary`, `host/empty/` and a `root/` holding, at the
/// host's paths, its own `canary` ("inside") and `empty/`, and the links `abs` (absolute),
/// `rel` (`..` climbing out), `chain` (a link to a link) and `file` (to the canary).
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree { dir };
        fs::create_dir_all(tree.host().join("empty")).unwrap();
        fs::write(tree.host().join("canary"), CANARY).unwrap();
        let inside = tree.inside(&tree.host());
        fs::create_dir_all(inside.join("empty")).unwrap();
        fs::write(inside.join("canary"), "inside").unwrap();
        let root = tree.root();
        symlink(tree.host(), root.join("abs")).unwrap();
        let climb = format!("{}{}", "../".repeat(30), tree.host().display());
        symlink(climb, root.join("rel")).unwrap();
        symlink("rel", root.join("chain")).unwrap();
        symlink(tree.host().join("canary"), root.join("file")).unwrap();
        tree
    }

    fn host(&self) -> PathBuf {
        self.dir.path().join("host")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Where the host path `path` is inside the root.
    fn inside(&self, path: &Path) -> PathBuf {
        self.root().join(path.strip_prefix("/").unwrap())
    }

    fn assert_host_untouched(&self) {
        assert_eq!(
            fs::read_to_string(self.host().join("canary")).unwrap(),
            CANARY
        );
        assert_eq!(fs::read_dir(self.host().join("empty")).unwrap().count(), 0);
    }
}

fn read(mut file: File) -> String {
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

// See: issue 13
#[test]
fn paths_resolve_inside_the_root() {
    let tree = Tree::new();
    let root = Root::open(&tree.root()).unwrap();
    for path in [
        "abs/canary",
        "/rel/canary",
        "chain/canary",
        "file",
        "../../abs/../host/canary",
    ] {
        assert_eq!(
            read(root.open_file(Path::new(path)).unwrap()),
            "inside",
            "{path}"
        );
        let found = root.resolve(Path::new(path)).unwrap();
        let file = rustix::fs::open(proc_path(&found), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(read(File::from(file)), "inside", "{path}");
    }
    let missing = root.resolve(Path::new("abs/missing")).unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    tree.assert_host_untouched();
}

// See: issue 13
#[test]
fn directories_are_made_inside_the_root() {
    let tree = Tree::new();
    let root = Root::open(&tree.root()).unwrap();
    root.dir(Path::new("abs/empty/made/deeper"), true).unwrap();
    root.dir(Path::new("/rel/empty/other"), true).unwrap();
    let inside = tree.inside(&tree.host());
    assert!(inside.join("empty/made/deeper").is_dir());
    assert!(inside.join("empty/other").is_dir());
    tree.assert_host_untouched();
}

// See: issue 13
#[test]
fn copies_keep_symlinks_as_links() {
    let tree = Tree::new();
    let root = Root::open(&tree.root()).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let to = rustix::fs::open(dest.path(), DIR_FLAGS, Mode::empty()).unwrap();
    copy_tree(&root.resolve(Path::new("/")).unwrap(), &to, b"all").unwrap();
    copy_tree(&root.resolve(Path::new("abs")).unwrap(), &to, b"abs").unwrap();
    copy_tree(&root.resolve(Path::new("file")).unwrap(), &to, b"file").unwrap();
    let all = dest.path().join("all");
    assert_eq!(fs::read_link(all.join("abs")).unwrap(), tree.host());
    assert_eq!(fs::read_link(all.join("chain")).unwrap(), Path::new("rel"));
    assert_eq!(
        fs::read_to_string(dest.path().join("abs/canary")).unwrap(),
        "inside"
    );
    assert_eq!(
        fs::read_to_string(dest.path().join("file")).unwrap(),
        "inside"
    );
    // Writing into the copy writes into the copy.
    fs::write(dest.path().join("abs/canary"), "changed").unwrap();
    tree.assert_host_untouched();
}

// See: issue 13
#[test]
fn copies_stop_at_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut at = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
    for _ in 0..=copy::MAX_DEPTH {
        rustix::fs::mkdirat(&at, "d", Mode::from_raw_mode(0o755)).unwrap();
        at = rustix::fs::openat(&at, "d", DIR_FLAGS, Mode::empty()).unwrap();
    }
    let source = Root::open(dir.path())
        .unwrap()
        .resolve(Path::new("/"))
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    let to = rustix::fs::open(dest.path(), DIR_FLAGS, Mode::empty()).unwrap();
    let err = copy_into(&source, &to).unwrap_err();
    assert_eq!(err.to_string(), "the tree is deeper than 256 directories");
}

/// How many descriptors this process holds open on `dir` or below it (counting only
/// those, so that tests running at the same time do not change the count).
fn open_below(dir: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// Makes `depth` directories `name`, each in the one before, in `dir`; the innermost,
/// open. Made by descriptors: the whole path may be longer than the kernel opens.
fn nest(dir: &Path, name: &str, depth: usize) -> OwnedFd {
    let mut at = rustix::fs::open(dir, DIR_FLAGS, Mode::empty()).unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&at, name, Mode::from_raw_mode(0o755)).unwrap();
        at = rustix::fs::openat(&at, name, DIR_FLAGS, Mode::empty()).unwrap();
    }
    at
}

#[test]
fn walks_deep_trees_with_few_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 3 * walk::MAX_OPEN_DIRS;
    let at = nest(dir.path(), "d", depth);
    let file = rustix::fs::openat(
        &at,
        "f",
        OFlags::CREATE | OFlags::WRONLY,
        Mode::from_raw_mode(0o644),
    );
    drop((file.unwrap(), at));
    let root = Root::open(dir.path()).unwrap();
    let mut seen = Vec::new();
    let mut most = 0;
    walk_tree(&root, |found| -> Result<(), io::Error> {
        most = most.max(open_below(dir.path()));
        seen.push((found.path.len(), found.dir.is_some()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), depth + 1);
    assert_eq!(seen.last(), Some(&(2 * depth + 1, false)), "the file, last");
    // The root, the directories the walk holds and the one just opened.
    assert!(most <= walk::MAX_OPEN_DIRS + 2, "{most} open");
    assert!(
        most > walk::MAX_OPEN_DIRS / 2,
        "{most} open: nothing counted"
    );
}

#[test]
fn walks_stop_at_paths_longer_than_the_kernel_opens() {
    let dir = tempfile::tempdir().unwrap();
    let name = "d".repeat(200);
    // The last directory is the first one whose path is too long.
    let depth = walk::MAX_PATH / (name.len() + 1) + 1;
    drop(nest(dir.path(), &name, depth));
    let root = Root::open(dir.path()).unwrap();
    let mut seen = 0;
    let error = walk_tree(&root, |_| -> Result<(), io::Error> {
        seen += 1;
        Ok(())
    })
    .unwrap_err();
    let WalkError::Read { path, source } = error else {
        panic!("not a read error: {error:?}");
    };
    assert_eq!(
        source.to_string(),
        "the path is longer than the 4095 bytes a path may have"
    );
    assert_eq!(path.len(), depth * (name.len() + 1) - 1);
    assert_eq!(seen, depth - 1);
}

// See: issue 13
#[test]
fn merges_replace_links_in_the_destination_instead_of_following_them() {
    let tree = Tree::new();
    let (source, dest) = (tree.dir.path().join("source"), tree.dir.path().join("dest"));
    fs::create_dir_all(source.join("abs/empty")).unwrap();
    fs::write(source.join("abs/empty/new"), "merged").unwrap();
    fs::write(source.join("canary"), "merged").unwrap();
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("kept"), "kept").unwrap();
    // An earlier export left links to the host where the new one has a directory and a
    // file.
    symlink(tree.host(), dest.join("abs")).unwrap();
    symlink(tree.host().join("canary"), dest.join("canary")).unwrap();
    merge_into(&File::open(&source).unwrap(), &File::open(&dest).unwrap()).unwrap();
    tree.assert_host_untouched();
    assert_eq!(
        fs::read_to_string(dest.join("abs/empty/new")).unwrap(),
        "merged"
    );
    assert!(fs::symlink_metadata(dest.join("abs")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(dest.join("canary")).unwrap(), "merged");
    assert_eq!(fs::read_to_string(dest.join("kept")).unwrap(), "kept");
}
