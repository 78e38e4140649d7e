//! Parsing and lowering Dockerfiles: the frontend's share of every build, cached or not.
//!
//! Two inputs: every golden Dockerfile under `fixtures/plan/` (small, feature-dense files,
//! parsed one after the other), and one long generated Dockerfile of 8 stages × 250
//! instructions mixing every instruction kind, continuations, heredocs and expansions.
//! Throughput is reported in bytes of Dockerfile text.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mkimage_core::plan::Platform;
use mkimage_dockerfile::{LowerOptions, lower, parse};

/// The golden Dockerfiles of `fixtures/plan/`, in name order.
fn fixtures() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/plan");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .expect("read fixtures/plan")
        .map(|e| e.expect("a fixture entry").path())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| fs::read_to_string(d.join("Dockerfile")).expect("read a fixture Dockerfile"))
        .collect()
}

/// A long Dockerfile: `stages` stages of `per_stage` instructions each.
fn generated(stages: usize, per_stage: usize) -> String {
    let mut text = String::from("# syntax=docker/dockerfile:1\nARG BASE=busybox\n");
    for s in 0..stages {
        let from = if s == 0 {
            "${BASE}".to_string()
        } else {
            format!("s{}", s - 1)
        };
        writeln!(text, "FROM {from} AS s{s}").expect("write to a String");
        for i in 0..per_stage {
            let line = match i % 10 {
                0 => format!("ARG V{i}=value-{i}"),
                1 => format!("ENV K{i}=${{V{}:-dflt}} OTHER{i}=\"quoted value\"", i - 1),
                2 => format!(
                    "RUN --mount=type=cache,target=/cache/{i} set -e; \\\n    echo {i} \\\n    && ls /"
                ),
                3 => format!("COPY --chown=1000:1000 --chmod=0644 src/{i}/*.rs /app/{i}/"),
                4 => format!("LABEL org.example.n{i}=\"${{V{}%%-*}}\"", i - 4),
                5 => format!("RUN <<EOF\necho heredoc {i}\nEOF"),
                6 => format!("WORKDIR /work/${{V{}#value-}}", i - 6),
                7 => format!("EXPOSE {}/tcp", 8000 + i),
                8 => format!("CMD [\"/bin/app\", \"--n\", \"{i}\"]"),
                _ => format!("HEALTHCHECK --interval=30s CMD wget -q localhost:{i}"),
            };
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

fn parse_and_lower(c: &mut Criterion) {
    let options = LowerOptions::new(Platform::host());
    let fixtures = fixtures();
    let generated = generated(8, 250);

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(
        fixtures.iter().map(|f| f.len() as u64).sum(),
    ));
    group.bench_function("fixtures/parse", |b| {
        b.iter(|| {
            for text in &fixtures {
                parse(text).expect("a fixture parses");
            }
        });
    });
    group.bench_function("fixtures/parse+lower", |b| {
        b.iter(|| {
            for text in &fixtures {
                let file = parse(text).expect("a fixture parses");
                // Some fixtures lower only with their build args; the work done up to
                // the error is what is measured, so the result is kept, not checked.
                std::hint::black_box(lower(&file, &options).is_ok());
            }
        });
    });
    group.throughput(Throughput::Bytes(generated.len() as u64));
    group.bench_function("generated-2000/parse", |b| {
        b.iter(|| parse(&generated).expect("the generated Dockerfile parses"));
    });
    group.bench_function("generated-2000/parse+lower", |b| {
        b.iter(|| {
            let file = parse(&generated).expect("the generated Dockerfile parses");
            lower(&file, &options).expect("the generated Dockerfile lowers")
        });
    });
    group.finish();
}

criterion_group!(benches, parse_and_lower);
criterion_main!(benches);
