//! Rebuilds of `FROM scratch`, `COPY . /app` and five config steps through the build
//! engine (`Builder::build`): no change (every step found in the cache, no layer I/O) and
//! one file changed (the `COPY` layer written again, the config steps after it missed),
//! with the compressed chunks of the previous layer reused (the default) and without.
//!
//! Guards issue 4's cache targets, with `context_walk`'s floors measured in the same
//! run: a no-change rebuild must stay near the walk of the context. The context is
//! 20,000 files × 8 KiB of incompressible bytes in 200 directories from a fixed seed
//! (`MKIMAGE_BENCH_FILES` changes the count); the layer is gzip at level 6.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use mkimage_core::NoEvents;
use mkimage_core::build::{BuildOptions, Builder};
use mkimage_core::context::Context;
use mkimage_core::plan::{Base, Copy, KeyValue, Op, Plan, Span, Stage, Step, StepMeta};
use mkimage_core::store::Store;

const FILE_SIZE: usize = 8 * 1024;
const DIRS: usize = 200;
const SEED: u64 = 5;

fn context() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    mkimage_benches::bench_context(tmp, "cache-context", DIRS, FILE_SIZE, SEED)
        .expect("generate the bench context")
        .0
}

/// `COPY . /app` and five steps that only edit the config.
fn plan() -> Plan {
    let step = |op| Step {
        op,
        meta: StepMeta::default(),
    };
    let env = |key: &str, value: &str| KeyValue {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    Plan {
        stages: vec![Stage {
            name: None,
            base: Base::Scratch,
            platform: None,
            steps: vec![
                step(Op::Copy(Copy::new(vec![".".to_owned()], "/app"))),
                step(Op::Env(vec![env("A", "1")])),
                step(Op::Label(vec![env("b", "2")])),
                step(Op::User("1000".to_owned())),
                step(Op::Expose(vec!["80/tcp".to_owned()])),
                step(Op::Env(vec![env("C", "3")])),
            ],
            span: Span::default(),
            from_text: None,
        }],
        target: 0,
    }
}

/// Builds the plan on `context` into `store`; returns how many steps were cached.
fn build(store: &Store, context: &Path, plan: &Plan) -> usize {
    let context = Context::open(context, None).expect("open the context");
    let built = Builder::new(store.clone())
        .build(plan, &context, &BuildOptions::default(), &NoEvents)
        .expect("build");
    built.steps.iter().filter(|step| step.cached).count()
}

fn cache_hit(c: &mut Criterion) {
    let dir = context();
    let plan = plan();
    let root = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(root.path()).expect("open a store");
    // Once the generated files are older than the racy window, a cold build records all.
    std::thread::sleep(Duration::from_millis(1100));
    build(&store, &dir, &plan);
    assert_eq!(build(&store, &dir, &plan), plan.stages[0].steps.len());

    let mut group = c.benchmark_group("cache_hit");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("mkimage", "no-change"), |b| {
        b.iter(|| build(&store, &dir, &plan))
    });
    // Each iteration rewrites one file (new content, same size) and lets it age past the
    // racy window, untimed, as an edit made before a build does.
    let changed = dir.join("d000/f000000.bin");
    let mut round = 0u64;
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("mkimage", "one-file-changed"), |b| {
        b.iter_custom(|iters| {
            mkimage_benches::time_after_one_edit(iters, &changed, FILE_SIZE, &mut round, || {
                build(&store, &dir, &plan);
            })
        })
    });
    // The same without reuse: the lineage records that point at the previous layer are
    // removed first (microseconds of the timed build), so the whole layer is compressed.
    let lineage = root.path().join("records/layer-chunks");
    group.bench_function(
        BenchmarkId::new("mkimage", "one-file-changed-no-reuse"),
        |b| {
            b.iter_custom(|iters| {
                mkimage_benches::time_after_one_edit(iters, &changed, FILE_SIZE, &mut round, || {
                    std::fs::remove_dir_all(&lineage).expect("remove the lineage records");
                    build(&store, &dir, &plan);
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
