//! Content digest of a `COPY . /app` source on a rebuild: open the context, walk and
//! `stat` it, look every file up in the remembered file hashes, digest the selection.
//! This is what a no-change or one-file-changed rebuild costs before any cache lookup.
//!
//! Guards issue 4's targets, measured side by side in one run: no change ≤ 2× the walk
//! floor `find CTX -type f -printf '%s %T@\n'`; one file changed ≤ 2× reading and hashing
//! the context once (`cold`). The context is 20,000 files × 8 KiB of incompressible bytes
//! in 200 directories from a fixed seed (`MKIMAGE_BENCH_FILES` changes the count).

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use mkimage_core::context::{Context, FileHashes, SelectOptions};

const FILE_SIZE: usize = 8 * 1024;
const DIRS: usize = 200;
const SEED: u64 = 4;

fn context() -> (PathBuf, usize) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    mkimage_benches::bench_context(tmp, "walk-context", DIRS, FILE_SIZE, SEED)
        .expect("generate the bench context")
}

/// What a rebuild does to key `COPY . /app`: the digest, and the hashes saved.
fn rebuild(dir: &Path, hashes: &FileHashes) {
    let context = Context::open(dir, None).expect("open the context");
    let mut selection = context
        .select(&["."], &SelectOptions::default())
        .expect("select the context");
    selection.digest(hashes).expect("digest the selection");
    hashes.save().expect("save the file hashes");
}

fn context_walk(c: &mut Criterion) {
    let (dir, files) = context();
    let cache = tempfile::tempdir().expect("a temp dir");
    let hashes_file = cache.path().join("hashes");
    // Once the generated files are older than the racy window, one cold run records all.
    std::thread::sleep(Duration::from_millis(1100));
    rebuild(&dir, &FileHashes::load(&hashes_file));
    assert_eq!(FileHashes::load(&hashes_file).len(), files);

    let mut group = c.benchmark_group("context_walk");
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("floor", "find-printf"), |b| {
        b.iter(|| mkimage_benches::find_floor(&dir))
    });
    group.bench_function(BenchmarkId::new("mkimage", "no-change"), |b| {
        b.iter(|| rebuild(&dir, &FileHashes::load(&hashes_file)))
    });
    // Each iteration rewrites one file (new content, same size) and lets it age past the
    // racy window, untimed, as an edit made before a build does; so exactly one file is
    // read and the hashes file rewritten.
    let changed = dir.join("d000/f000000.bin");
    let mut round = 0u64;
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(1));
    group.warm_up_time(Duration::from_millis(100));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("mkimage", "one-file-changed"), |b| {
        b.iter_custom(|iters| {
            mkimage_benches::time_after_one_edit(iters, &changed, FILE_SIZE, &mut round, || {
                rebuild(&dir, &FileHashes::load(&hashes_file))
            })
        })
    });
    group.sampling_mode(SamplingMode::Auto);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes((files * FILE_SIZE) as u64));
    group.bench_function(BenchmarkId::new("mkimage", "cold"), |b| {
        b.iter(|| rebuild(&dir, &FileHashes::in_memory()))
    });
    group.finish();
}

criterion_group!(benches, context_walk);
criterion_main!(benches);
