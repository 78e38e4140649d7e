//! The context walk against `ignore`'s parallel walker (`WalkParallel`), on the walk a
//! `COPY . /app` does before any hashing: every path of the context that its
//! `.dockerignore` leaves, with its metadata, in layer order.
//!
//! Guards the choice of walker (issue 14): mkimage's walk goes by directory descriptors
//! inside the context root and must stay at least as fast as the crate it does not use.
//! Both sides filter with the exact `.dockerignore` matcher ([`Patterns`], the public
//! `matches`), prune excluded directories (the ignore file has no `!` line, so nothing
//! below one can come back), `lstat` every path they keep and give them sorted; `ignore`
//! runs with its own filters off and one thread per core. The context is 20,000 files ×
//! 8 KiB in 200 directories from a fixed seed (`MKIMAGE_BENCH_FILES` changes the count);
//! `find CTX -type f -printf` is the floor. Compare the ratios of one run, not the times.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ignore::{WalkBuilder, WalkState};
use mkimage_core::context::{Context, Patterns, SelectOptions};

const FILE_SIZE: usize = 8 * 1024;
const DIRS: usize = 200;
const SEED: u64 = 14;
/// Leaves out 10 of the 200 directories whole and a tenth of the other files.
const DOCKERIGNORE: &str = "d00*\n**/*7.bin\n*.tmp\n";

fn context() -> (PathBuf, usize) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (dir, files) = mkimage_benches::bench_context(tmp, "walk-compare", DIRS, FILE_SIZE, SEED)
        .expect("generate the bench context");
    std::fs::write(dir.join(".dockerignore"), DOCKERIGNORE).expect("write .dockerignore");
    (dir, files)
}

/// The paths mkimage's context walk gives for `COPY . /app`, in layer order.
fn mkimage_walk(dir: &Path) -> Vec<String> {
    let context = Context::open(dir, None).expect("open the context");
    let selection = context
        .select(&["."], &SelectOptions::default())
        .expect("select the context");
    selection
        .entries()
        .map(|entry| entry.expect("walk the context").path.to_string())
        .collect()
}

/// The same paths from `ignore::WalkParallel`, filtered by the same `.dockerignore`
/// matcher, each `lstat`ed, then sorted into layer order.
fn ignore_walk(dir: &Path, patterns: &Patterns) -> Vec<String> {
    let root = dir.to_owned();
    let filter_patterns = patterns.clone();
    let walk = WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(false)
        .threads(std::thread::available_parallelism().map_or(2, usize::from))
        .filter_entry(move |entry| match entry.path().strip_prefix(&root) {
            Ok(rel) if rel.as_os_str().is_empty() => true,
            Ok(rel) => !filter_patterns.matches(&rel.to_string_lossy()),
            Err(_) => false,
        })
        .build_parallel();
    let found = Mutex::new(Vec::new());
    walk.run(|| {
        let mut batch = Batch {
            found: &found,
            paths: Vec::new(),
        };
        Box::new(move |entry| {
            let entry = entry.expect("walk the context");
            if entry.depth() > 0 {
                entry.metadata().expect("lstat a path");
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .expect("a path below the root");
                batch.paths.push(rel.to_string_lossy().into_owned());
            }
            WalkState::Continue
        })
    });
    let mut paths = found.into_inner().expect("no panic");
    paths.sort_by(|a, b| layer_order(a).cmp(layer_order(b)));
    paths
}

/// The paths one thread of the walk found, added to the shared list when the thread is
/// done with them.
struct Batch<'a> {
    found: &'a Mutex<Vec<String>>,
    paths: Vec<String>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if let Ok(mut found) = self.found.lock() {
            found.append(&mut self.paths);
        }
    }
}

/// The sort key of layer order: `/` before every other byte, so a directory comes right
/// before its contents.
fn layer_order(path: &str) -> impl Iterator<Item = u16> + '_ {
    path.bytes()
        .map(|b| if b == b'/' { 0 } else { u16::from(b) + 1 })
}

fn walk_compare(c: &mut Criterion) {
    let (dir, files) = context();
    let patterns = Context::open(&dir, None)
        .expect("open the context")
        .ignore()
        .clone();
    let ours = mkimage_walk(&dir);
    assert_eq!(
        ours,
        ignore_walk(&dir, &patterns),
        "both walks give the same paths"
    );
    // 190 directories, the files of theirs not ending in 7, and `.dockerignore`.
    assert_eq!(ours.len(), 190 + files * 19 / 20 * 9 / 10 + 1);

    let mut group = c.benchmark_group("walk_compare");
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("floor", "find-printf"), |b| {
        b.iter(|| mkimage_benches::find_floor(&dir))
    });
    group.bench_function(BenchmarkId::new("mkimage", "descriptors"), |b| {
        b.iter(|| mkimage_walk(&dir))
    });
    group.bench_function(BenchmarkId::new("ignore", "walk-parallel"), |b| {
        b.iter(|| ignore_walk(&dir, &patterns))
    });
    group.finish();
}

criterion_group!(benches, walk_compare);
criterion_main!(benches);
