//! The build engine through its library API: hand-made plans, the cache, typed errors.

use std::fs;
use std::path::Path;

use mkimage_core::NoEvents;
use mkimage_core::build::{BuildError, BuildOptions, Builder, Built};
use mkimage_core::context::Context;
use mkimage_core::oci::Image;
use mkimage_core::plan::{
    Base, Command, Copy, KeyValue, Op, Plan, Platform, Run, Span, Stage, Step, StepMeta,
};
use mkimage_core::store::Store;

fn step(op: Op, line: usize, text: &str) -> Step {
    Step {
        op,
        meta: StepMeta {
            span: Span { line, col: 1 },
            text: text.to_owned(),
        },
    }
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        stages: vec![Stage {
            name: None,
            base: Base::Scratch,
            platform: None,
            steps,
            span: Span { line: 1, col: 1 },
        }],
        target: 0,
    }
}

fn app_plan() -> Plan {
    plan(vec![
        step(Op::Env(vec![KeyValue::new("A", "1")]), 2, "ENV A=1"),
        step(
            Op::Copy(Copy::new(vec![".".into()], "/app/")),
            3,
            "COPY . /app/",
        ),
        step(
            Op::Cmd(Command::Exec(vec!["/app/run".into()])),
            4,
            "CMD [\"/app/run\"]",
        ),
    ])
}

fn context(dir: &Path) -> Context {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(dir.join("run"), "#!/bin/sh\n").unwrap();
    Context::open(dir, None).unwrap()
}

fn build(store: &Store, plan: &Plan, context: &Context, options: &BuildOptions) -> Built {
    Builder::new(store.clone())
        .build(plan, context, options, &NoEvents)
        .unwrap()
}

fn cached(built: &Built) -> Vec<bool> {
    built.steps.iter().map(|step| step.cached).collect()
}

#[test]
fn a_rebuild_is_all_cached_and_no_cache_runs_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let options = BuildOptions::default();
    let first = build(&store, &app_plan(), &context, &options);
    assert_eq!(cached(&first), [false, false, false]);
    let second = build(&store, &app_plan(), &context, &options);
    assert_eq!(cached(&second), [true, true, true]);
    assert_eq!(second.image.digest(), first.image.digest());
    let fresh = BuildOptions {
        no_cache: true,
        ..BuildOptions::default()
    };
    assert_eq!(
        cached(&build(&store, &app_plan(), &context, &fresh)),
        [false, false, false]
    );

    let image = Image::load(&store, &first.image, &Platform::host()).unwrap();
    let config = image.config();
    assert_eq!(config.config.cmd, Some(vec!["/app/run".to_owned()]));
    assert_eq!(config.history.len(), 3);
    assert!(config.history[0].empty_layer);
    assert_eq!(image.layers().len(), 1);
}

#[test]
fn run_without_an_executor_is_a_typed_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let plan = plan(vec![step(
        Op::Run(Run::new(Command::Shell("true".into()))),
        2,
        "RUN true",
    )]);
    let error = Builder::new(store)
        .build(&plan, &context, &BuildOptions::default(), &NoEvents)
        .unwrap_err();
    let mkimage_core::Error::Build(BuildError::Step { span, source, .. }) = error else {
        panic!("not a step error: {error:?}");
    };
    assert_eq!(span.line, 2);
    assert!(matches!(
        *source,
        mkimage_core::Error::Build(BuildError::RunUnavailable)
    ));
}

/// Builds `app_plan` with the context at `dir` reopened (its ignore file reread); which
/// steps came from the cache.
fn rebuild(store: &Store, dir: &Path) -> Vec<bool> {
    let context = Context::open(dir, None).unwrap();
    cached(&build(
        store,
        &app_plan(),
        &context,
        &BuildOptions::default(),
    ))
}

#[test]
fn a_context_change_misses_from_the_copy_on() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let ctx = dir.path().join("ctx");
    context(&ctx);
    fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();
    assert_eq!(rebuild(&store, &ctx), [false, false, false]);
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);

    // An ignored file changes nothing.
    fs::write(ctx.join("debug.log"), "noise\n").unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);
    // Touching a file (same content) changes nothing either.
    let run = ctx.join("run");
    let file = fs::File::options().append(true).open(&run).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);

    // Content, mode, a new file: the COPY and what follows run again.
    fs::write(&run, "#!/bin/sh\necho changed\n").unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, false, false]);
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, false, false]);
    fs::write(ctx.join("src/new.rs"), "// new\n").unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, false, false]);
    // Going back to an earlier content finds its records again.
    fs::remove_file(ctx.join("src/new.rs")).unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);
}

#[test]
fn a_corrupt_or_dangling_record_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let ctx = dir.path().join("ctx");
    context(&ctx);
    assert_eq!(rebuild(&store, &ctx), [false, false, false]);
    let records = store.root().join("records/build-steps");
    for entry in fs::read_dir(&records).unwrap() {
        fs::write(entry.unwrap().path(), b"{not json").unwrap();
    }
    assert_eq!(rebuild(&store, &ctx), [false, false, false]);
    assert_eq!(rebuild(&store, &ctx), [true, true, true]);

    // A record whose layer is gone from the store is a miss too; the step writes the
    // same layer again, so the next step's key is unchanged.
    let first = build(
        &store,
        &app_plan(),
        &Context::open(&ctx, None).unwrap(),
        &BuildOptions::default(),
    );
    let image = Image::load(&store, &first.image, &Platform::host()).unwrap();
    let blob = store.blob_path(image.layers()[0].digest());
    fs::remove_file(&blob).unwrap();
    assert_eq!(rebuild(&store, &ctx), [true, false, true]);
    // The step wrote its layer again. Directories it creates carry the build's time, so
    // the new blob's digest may differ from the removed one: check the image it made.
    let again = build(
        &store,
        &app_plan(),
        &Context::open(&ctx, None).unwrap(),
        &BuildOptions::default(),
    );
    let image = Image::load(&store, &again.image, &Platform::host()).unwrap();
    assert!(image.layers().iter().all(|l| store.has_blob(l.digest())));
}

#[test]
fn equal_contexts_in_different_directories_share_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    context(&one);
    context(&two);
    let first = build(
        &store,
        &app_plan(),
        &Context::open(&one, None).unwrap(),
        &BuildOptions::default(),
    );
    assert_eq!(rebuild(&store, &two), [true, true, true]);
    let keys = |built: &Built| {
        built
            .steps
            .iter()
            .map(|s| s.key.clone())
            .collect::<Vec<_>>()
    };
    let second = build(
        &store,
        &app_plan(),
        &Context::open(&two, None).unwrap(),
        &BuildOptions::default(),
    );
    assert_eq!(keys(&first), keys(&second));
}

#[test]
fn four_builds_at_once_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let contexts: Vec<Context> = (0..4)
        .map(|n| {
            let ctx = dir.path().join(format!("ctx{n}"));
            let context = context(&ctx);
            fs::write(ctx.join("n.txt"), format!("{n}\n")).unwrap();
            context
        })
        .collect();
    let built: Vec<Built> = std::thread::scope(|scope| {
        let handles: Vec<_> = contexts
            .iter()
            .enumerate()
            .map(|(n, context)| {
                let store = store.clone();
                scope.spawn(move || {
                    let options = BuildOptions {
                        tags: vec![
                            format!("app:{n}").parse().unwrap(),
                            "app:latest".parse().unwrap(),
                        ],
                        ..BuildOptions::default()
                    };
                    build(&store, &app_plan(), context, &options)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (n, built) in built.iter().enumerate() {
        let tagged = store.find_image(&format!("app:{n}")).unwrap();
        assert_eq!(tagged.digest(), built.image.digest());
        Image::load(&store, &built.image, &Platform::host()).unwrap();
    }
    let latest = store.find_image("app:latest").unwrap();
    assert!(built.iter().any(|b| b.image.digest() == latest.digest()));
    // Every image is listed: one tagged `latest`, the others still by their own tag.
    assert_eq!(store.tags().unwrap().len(), 5);
}

#[test]
fn copy_from_a_stage_follows_its_absolute_symlinks_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let ctx = dir.path().join("ctx");
    fs::create_dir_all(ctx.join("bin")).unwrap();
    fs::write(ctx.join("bin/busybox"), "the binary\n").unwrap();
    std::os::unix::fs::symlink("/bin/busybox", ctx.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("../../../bin/busybox", ctx.join("bin/up")).unwrap();
    let context = Context::open(&ctx, None).unwrap();
    let stage = |base, steps| Stage {
        name: None,
        base,
        platform: None,
        steps,
        span: Span { line: 1, col: 1 },
    };
    let copy_from = |source: &str, dest: &str| {
        let mut copy = Copy::new(vec![source.into()], dest);
        copy.from = mkimage_core::plan::Source::Stage(0);
        step(Op::Copy(copy), 3, "COPY --from=0")
    };
    let plan = Plan {
        stages: vec![
            stage(
                Base::Scratch,
                vec![step(
                    Op::Copy(Copy::new(vec!["bin".into()], "/bin/")),
                    2,
                    "COPY bin /bin/",
                )],
            ),
            stage(
                Base::Scratch,
                vec![copy_from("/bin/sh", "/sh"), copy_from("/bin/up", "/up")],
            ),
        ],
        target: 1,
    };
    let built = build(&store, &plan, &context, &BuildOptions::default());
    let out = dir.path().join("out");
    mkimage_core::build::export_rootfs(&store, &built.image, &Platform::host(), &out).unwrap();
    assert_eq!(fs::read_to_string(out.join("sh")).unwrap(), "the binary\n");
    assert_eq!(fs::read_to_string(out.join("up")).unwrap(), "the binary\n");
}
