//! Cold layer write of a `COPY . /app` of a large context: walk the context, write the
//! tar, compress, hash both digests — the path every cold build takes once per layer.
//!
//! Guards issue 4's cold-build targets: gzip ≤ 1.2× `tar -cf - CTX | pigz -p 2` and
//! zstd ≤ 1.3× `tar -cf - CTX | zstd -T0`. Both floors are measured in the same run as
//! `floor/…` so the ratios compare like with like. The context is 20,000 files × 8 KiB of
//! incompressible bytes (`MKIMAGE_BENCH_FILES` changes the count).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mkimage_core::layer::{Compression, LayerOptions, dir_entries, write_layer};

const FILE_SIZE: usize = 8 * 1024;

fn context() -> (PathBuf, u64) {
    let files: usize = std::env::var("MKIMAGE_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("layer-context-{files}"));
    mkimage_benches::incompressible_context(&dir, files, FILE_SIZE)
        .expect("generate the bench context");
    (dir, (files * FILE_SIZE) as u64)
}

fn write(dir: &Path, compression: Compression) {
    let entries = dir_entries(dir).expect("list the context");
    let options = LayerOptions {
        compression,
        ..LayerOptions::default()
    };
    write_layer(io::sink(), entries, &options).expect("write the layer");
}

/// Runs a shell pipeline that writes to /dev/null; fails naming the Debian package.
fn floor(pipeline: &str, package: &str) {
    let status = Command::new("sh")
        .args(["-c", pipeline])
        .status()
        .unwrap_or_else(|e| panic!("`sh` is needed: {e}"));
    assert!(
        status.success(),
        "`{pipeline}` failed; is Debian package `{package}` installed?"
    );
}

fn layer_write(c: &mut Criterion) {
    let (dir, bytes) = context();
    let ctx = dir.display().to_string();
    let mut group = c.benchmark_group("layer_write");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function(BenchmarkId::new("mkimage", "uncompressed"), |b| {
        b.iter(|| write(&dir, Compression::Uncompressed))
    });
    group.bench_function(BenchmarkId::new("floor", "tar"), |b| {
        b.iter(|| floor(&format!("tar -cf - -C {ctx} . | cat > /dev/null"), "tar"))
    });
    group.bench_function(BenchmarkId::new("mkimage", "gzip"), |b| {
        b.iter(|| write(&dir, Compression::Gzip { level: 6 }))
    });
    group.bench_function(BenchmarkId::new("floor", "tar|pigz"), |b| {
        b.iter(|| {
            floor(
                &format!("tar -cf - -C {ctx} . | pigz -p \"$(nproc)\" > /dev/null"),
                "pigz",
            )
        })
    });
    group.bench_function(BenchmarkId::new("mkimage", "zstd"), |b| {
        b.iter(|| write(&dir, Compression::Zstd { level: 3 }))
    });
    group.bench_function(BenchmarkId::new("floor", "tar|zstd"), |b| {
        b.iter(|| {
            floor(
                &format!("tar -cf - -C {ctx} . | zstd -T0 -q > /dev/null"),
                "zstd",
            )
        })
    });
    group.finish();
}

criterion_group!(benches, layer_write);
criterion_main!(benches);
