//! A chain of stages, each `FROM` the one before (`FROM s0 AS s1`, …): lowering the
//! Dockerfile to a plan, and building the plan through the build engine
//! (`Builder::build`: resolving, ordering and scheduling the stages, each started from its
//! base's image), for chains of 1,000 to 4,000 stages.
//!
//! Guards issue 13: stage resolution was quadratic in the number of stages, 4,000
//! chained stages taking 21 s. Both must grow linearly: twice the stages, twice the time.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mkimage_core::NoEvents;
use mkimage_core::build::{BuildOptions, Builder};
use mkimage_core::context::Context;
use mkimage_core::plan::{Plan, Platform};
use mkimage_core::store::Store;
use mkimage_dockerfile::{LowerOptions, lower, parse};

/// The chain lengths measured.
const LENGTHS: [usize; 3] = [1000, 2000, 4000];

/// `stages` stages, each based on the one before, the last one setting a label.
fn chain(stages: usize) -> String {
    let mut text = String::from("FROM scratch AS s0\n");
    for index in 1..stages {
        text.push_str(&format!("FROM s{} AS s{index}\n", index - 1));
    }
    text.push_str("LABEL chained=yes\n");
    text
}

fn lowered(text: &str) -> Plan {
    let file = parse(text).expect("the chain parses");
    lower(&file, &LowerOptions::new(Platform::host()))
        .expect("the chain lowers")
        .plan
}

fn stage_chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("stage_chain");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for stages in LENGTHS {
        let text = chain(stages);
        group.bench_with_input(BenchmarkId::new("lower", stages), &text, |b, text| {
            b.iter(|| lowered(text));
        });
    }
    let root = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(root.path().join("store")).expect("open a store");
    let context_dir = root.path().join("context");
    std::fs::create_dir(&context_dir).expect("make the context directory");
    let context = Context::open(&context_dir, None).expect("open the context");
    let builder = Builder::new(store);
    for stages in LENGTHS {
        let plan = lowered(&chain(stages));
        group.bench_with_input(BenchmarkId::new("build", stages), &plan, |b, plan| {
            b.iter(|| {
                builder
                    .build(plan, &context, &BuildOptions::default(), &NoEvents)
                    .expect("the chain builds")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, stage_chain);
criterion_main!(benches);
