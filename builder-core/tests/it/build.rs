//! The build engine through its library API: hand-made plans, the cache, typed errors.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mkimage_core::NoEvents;
use mkimage_core::build::{BuildError, BuildOptions, Builder, Built};
use mkimage_core::context::Context;
use mkimage_core::executor::{NewLayer, RunInput, StepExecutor};
use mkimage_core::oci::{CONFIG_LIMIT, Image};
use mkimage_core::oci_spec::image::Digest;
use mkimage_core::plan::{
    Base, Command, Copy, KeyValue, Network, Op, Plan, Platform, Run, Security, Source, Span, Stage,
    Step, StepMeta,
};
use mkimage_core::store::Store;
use mkimage_core::testutil::noise;

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
            from_text: None,
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
    let again = build(&store, &app_plan(), &context, &fresh);
    assert_eq!(cached(&again), [false, false, false]);
    // The keys of a step run without a lookup (its files hashed as its layer is
    // written) equal those of the lookup.
    assert_eq!(keys(&again), keys(&second));

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

/// Builds a plan of the one step `run`, written `text` at `line`: with the entitlement
/// `allowed` gives, it reaches the executor (none here); returns the error without it.
fn refused_unless_allowed(run: Run, line: usize, text: &str, allowed: &BuildOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let plan = plan(vec![step(Op::Run(run), line, text)]);
    let build = |options: &BuildOptions| {
        Builder::new(store.clone())
            .build(&plan, &context, options, &NoEvents)
            .unwrap_err()
    };
    let error = build(&BuildOptions::default());
    assert!(matches!(
        build(allowed),
        mkimage_core::Error::Build(BuildError::Step { .. })
    ));
    error.to_string()
}

#[test]
fn insecure_run_is_refused_unless_allowed() {
    let insecure = Run {
        security: Security::Insecure,
        ..Run::new(Command::Shell("true".into()))
    };
    let allowed = BuildOptions {
        allow_insecure: true,
        ..BuildOptions::default()
    };
    assert_eq!(
        refused_unless_allowed(insecure, 3, "RUN --security=insecure true", &allowed),
        "3:1: `RUN --security=insecure true` asks for all capabilities, which needs the \
         `security.insecure` entitlement (`--allow security.insecure`)"
    );
}

// See: issue 13
#[test]
fn host_network_run_is_refused_unless_allowed() {
    let host = Run {
        network: Network::Host,
        ..Run::new(Command::Shell("true".into()))
    };
    let allowed = BuildOptions {
        allow_host_network: true,
        ..BuildOptions::default()
    };
    assert_eq!(
        refused_unless_allowed(host, 4, "RUN --network=host true", &allowed),
        "4:1: `RUN --network=host true` asks for the host's network, which needs the \
         `network.host` entitlement (`--allow network.host`)"
    );
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
    let second = build(
        &store,
        &app_plan(),
        &Context::open(&two, None).unwrap(),
        &BuildOptions::default(),
    );
    assert_eq!(keys(&first), keys(&second));
}

#[test]
fn the_xattrs_of_copied_files_are_in_the_key_and_layer_of_a_cold_copy() {
    let dir = tempfile::tempdir().unwrap();
    // Each build has a store of its own: a cold COPY hashes files as it copies them.
    let cold = |name: &str, origin: &[u8]| {
        let store = Store::open(dir.path().join(format!("store-{name}"))).unwrap();
        let ctx = dir.path().join(name);
        context(&ctx);
        xattr::set(ctx.join("src/main.rs"), "user.origin", origin).unwrap();
        let built = build(
            &store,
            &app_plan(),
            &Context::open(&ctx, None).unwrap(),
            &BuildOptions::default(),
        );
        let image = Image::load(&store, &built.image, &Platform::host()).unwrap();
        let blob = store.read_blob(image.layers()[0].digest()).unwrap();
        let tar = mkimage_core::layer::decompress(&blob[..], None).unwrap();
        let tar: Vec<u8> = std::io::Read::bytes(tar).map(Result::unwrap).collect();
        let record = [b"SCHILY.xattr.user.origin=", origin, b"\n"].concat();
        assert!(
            tar.windows(record.len()).any(|w| w == record),
            "the layer keeps the xattr"
        );
        keys(&built)
    };
    let one = cold("one", b"a");
    assert_eq!(cold("two", b"a"), one, "equal contexts, equal keys");
    assert_ne!(cold("three", b"b"), one, "another xattr value, another key");
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
        from_text: None,
    };
    let copy_from = |source: &str, dest: &str| {
        let mut copy = Copy::new(vec![source.into()], dest);
        copy.from = Source::Stage(0);
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
    mkimage_core::build::export_rootfs(&store, &built.image, &[Platform::host()], &out).unwrap();
    assert_eq!(fs::read_to_string(out.join("sh")).unwrap(), "the binary\n");
    assert_eq!(fs::read_to_string(out.join("up")).unwrap(), "the binary\n");
}

/// A `RUN` hook that logs `start <script>` and `end <script>`. `<name> wait-for <word>`
/// waits (up to five seconds) until a run whose script starts with `word` has started;
/// `false` fails at once.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<String>>>);

impl Logged {
    fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn started(&self, word: &str) -> bool {
        self.log()
            .iter()
            .any(|line| line.starts_with(&format!("start {word}")))
    }
}

impl StepExecutor for Logged {
    fn run(&self, input: &RunInput<'_>) -> mkimage_core::Result<Option<NewLayer>> {
        let Command::Shell(script) = &input.run.command else {
            panic!("a shell command");
        };
        self.0.lock().unwrap().push(format!("start {script}"));
        if script == "false" {
            return Err(BuildError::RunUnavailable.into());
        }
        if let Some((_, word)) = script.split_once(" wait-for ") {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.started(word) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // Time for a failure elsewhere to reach the scheduler.
            std::thread::sleep(Duration::from_millis(500));
        }
        self.0.lock().unwrap().push(format!("end {script}"));
        Ok(None)
    }
}

/// Stages `a` and `b`, each copying its file from the context and running `runs`, and a
/// final stage copying both files.
fn two_feeding_one(a_runs: &[&str], b_runs: &[&str]) -> Plan {
    let stage = |name: Option<&str>, steps| Stage {
        name: name.map(str::to_owned),
        base: Base::Scratch,
        platform: None,
        steps,
        span: Span { line: 1, col: 1 },
        from_text: None,
    };
    let branch = |file: &str, runs: &[&str], line: usize| {
        let mut steps = vec![step(
            Op::Copy(Copy::new(vec![file.into()], "/")),
            line,
            &format!("COPY {file} /"),
        )];
        for (n, script) in runs.iter().enumerate() {
            steps.push(step(
                Op::Run(Run::new(Command::Shell((*script).into()))),
                line + 1 + n,
                &format!("RUN {script}"),
            ));
        }
        steps
    };
    let copy_from = |stage: usize, file: &str| {
        let mut copy = Copy::new(vec![format!("/{file}")], "/");
        copy.from = mkimage_core::plan::Source::Stage(stage);
        step(
            Op::Copy(copy),
            20 + stage,
            &format!("COPY --from={stage} /{file} /"),
        )
    };
    Plan {
        stages: vec![
            stage(Some("a"), branch("a.txt", a_runs, 2)),
            stage(Some("b"), branch("b.txt", b_runs, 10)),
            stage(None, vec![copy_from(0, "a.txt"), copy_from(1, "b.txt")]),
        ],
        target: 2,
    }
}

fn two_files(dir: &Path) -> Context {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("a.txt"), "a\n").unwrap();
    fs::write(dir.join("b.txt"), "b\n").unwrap();
    Context::open(dir, None).unwrap()
}

#[test]
fn independent_stages_build_at_the_same_time_into_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = two_files(&dir.path().join("ctx"));
    let logged = Logged::default();
    let options = BuildOptions {
        source_date_epoch: Some(1_700_000_000),
        ..BuildOptions::default()
    };
    let plan = two_feeding_one(&["a wait-for b"], &["b wait-for a"]);
    let built = Builder::new(store.clone())
        .with_executor(logged.clone())
        .build(&plan, &context, &options, &NoEvents)
        .unwrap();
    let mut first_two = logged.log()[..2].to_vec();
    first_two.sort();
    assert_eq!(
        first_two,
        ["start a wait-for b", "start b wait-for a"],
        "both stages ran before either finished: {:?}",
        logged.log()
    );
    // The steps are listed in plan order whatever order they ran in.
    let order: Vec<(usize, usize)> = built
        .steps
        .iter()
        .map(|result| (result.step.stage, result.step.step))
        .collect();
    assert_eq!(order, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    // The digest the engine gave when it built stages one after another.
    assert_eq!(
        built.image.digest().to_string(),
        "sha256:a6471492ebf6f6ba2fc73adaf532a22451738e3fd2e32c11498e094686920bea"
    );
    let out = dir.path().join("out");
    mkimage_core::build::export_rootfs(&store, &built.image, &[Platform::host()], &out).unwrap();
    assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "a\n");
    assert_eq!(fs::read_to_string(out.join("b.txt")).unwrap(), "b\n");
}

#[test]
fn the_first_failing_stage_stops_the_others_after_their_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = two_files(&dir.path().join("ctx"));
    let logged = Logged::default();
    let plan = two_feeding_one(&["a wait-for b", "false"], &["b wait-for false", "never"]);
    let error = Builder::new(store)
        .with_executor(logged.clone())
        .build(&plan, &context, &BuildOptions::default(), &NoEvents)
        .unwrap_err();
    let mkimage_core::Error::Build(BuildError::Step { span, .. }) = error else {
        panic!("not a step error: {error:?}");
    };
    assert_eq!(span.line, 4, "the error of stage a's `RUN false`");
    // Stage b's running step was awaited, and its next step never started.
    assert!(logged.log().contains(&"end b wait-for false".to_owned()));
    assert!(!logged.started("never"), "{:?}", logged.log());
}

/// Counts the bytes each step's layer reused.
#[derive(Default)]
struct Reused(Mutex<Vec<(usize, u64)>>);

impl mkimage_core::events::Events for Reused {
    fn layer_reused(&self, step: &mkimage_core::events::StepRef, reused: u64) {
        self.0.lock().unwrap().push((step.step, reused));
    }
}

// See: issue 4 (incremental layer assembly).
#[test]
fn a_one_file_change_reuses_the_layer_and_equals_a_cold_build() {
    use mkimage_core::layer::Compression;

    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    // 400 files × 8 KiB of seeded noise: several chunks.
    for i in 0..400 {
        let sub = ctx.join(format!("d{}", i % 8));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i:04}")), noise(8192, i)).unwrap();
    }
    let total = 400 * (8192 + 512);
    for compression in [
        Compression::Gzip { level: 6 },
        Compression::Zstd { level: 3 },
    ] {
        let options = BuildOptions {
            compression,
            source_date_epoch: Some(1_700_000_000),
            ..BuildOptions::default()
        };
        let store = Store::open(dir.path().join("store")).unwrap();
        let first = build(&store, &app_plan(), &context_at(&ctx), &options);
        let changed = ctx.join("d3/f0203");
        let mut content = fs::read(&changed).unwrap();
        content.extend_from_slice(format!("{compression:?}").as_bytes());
        fs::write(&changed, content).unwrap();

        let events = Reused::default();
        let warm = Builder::new(store.clone())
            .build(&app_plan(), &context_at(&ctx), &options, &events)
            .unwrap();
        assert_eq!(cached(&warm), [true, false, false]);
        assert_ne!(warm.image, first.image);
        let reused = events.0.lock().unwrap().clone();
        assert_eq!(reused.len(), 1, "{reused:?}");
        let (step, bytes) = reused[0];
        assert_eq!(step, 1, "the COPY reused");
        // All but the changed file's chunk and perhaps the next (at most 1 MiB each).
        assert!(
            bytes + 2 * 1024 * 1024 >= total && bytes < total,
            "{compression:?}: reused {bytes} of {total}"
        );

        let cold_store = Store::open(dir.path().join("cold")).unwrap();
        let cold = build(&cold_store, &app_plan(), &context_at(&ctx), &options);
        assert_eq!(warm.image, cold.image, "{compression:?}");
        fs::remove_dir_all(dir.path().join("cold")).unwrap();

        // The layer reads back through the independent tools.
        let image = Image::load(&store, &warm.image, &Platform::host()).unwrap();
        let blob = fs::read(store.blob_path(image.layers()[0].digest())).unwrap();
        let codec = match compression {
            Compression::Gzip { .. } => "gzip",
            _ => "zstd",
        };
        let tar = crate::layer::run(codec, codec, &["-dc"], &blob);
        let listing = String::from_utf8(crate::layer::run("tar", "tar", &["-t"], &tar)).unwrap();
        assert!(listing.contains("app/d3/f0203\n"), "{listing}");
        assert_eq!(listing.lines().count(), 1 + 8 + 400);
    }
}

/// Writes 256 files × 16 KiB of noise (many chunks) under `dir`.
fn noise_context(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..256 {
        let bytes = noise(16 * 1024, i);
        fs::write(dir.join(format!("f{i:03}")), bytes).unwrap();
    }
}

/// Builds `app_plan` from `context` and returns it with the bytes the `COPY` reused.
/// Mtimes are clamped, so that equal files in two directories give equal tar entries.
fn build_reusing(store: &Store, context: &Context) -> (Built, u64) {
    let events = Reused::default();
    let options = BuildOptions {
        source_date_epoch: Some(1_700_000_000),
        ..BuildOptions::default()
    };
    let built = Builder::new(store.clone())
        .build(&app_plan(), context, &options, &events)
        .unwrap();
    let reused = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, bytes)| bytes)
        .sum();
    (built, reused)
}

// See: issue 4 (`build -` extracts the context to a new directory each time).
#[test]
fn a_streamed_context_reuses_the_layer_of_its_last_build() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let first = dir.path().join("first");
    noise_context(&first);
    build_reusing(&store, &context_at(&first).streamed());

    let second = dir.path().join("second");
    noise_context(&second);
    fs::write(second.join("f007"), "changed\n").unwrap();
    let (built, reused) = build_reusing(&store, &context_at(&second).streamed());
    assert_eq!(cached(&built), [true, false, false]);
    assert!(reused > 2 * 1024 * 1024, "reused {reused}");
    // Nothing is kept per streamed directory.
    let hashes = store.path_for("context-hashes").unwrap();
    assert_eq!(fs::read_dir(hashes).unwrap().count(), 0);
}

// See: issue 4 (a hit keeps the lineage pointing at the layer the step has).
#[test]
fn a_layer_found_in_the_cache_is_reused_by_the_next_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let first = dir.path().join("first");
    noise_context(&first);
    build_reusing(&store, &context_at(&first));

    // Equal content in another directory: a hit, under another lineage.
    let second = dir.path().join("second");
    noise_context(&second);
    let (built, reused) = build_reusing(&store, &context_at(&second));
    assert_eq!((cached(&built), reused), (vec![true, true, true], 0));
    fs::write(second.join("f007"), "changed\n").unwrap();
    let (built, reused) = build_reusing(&store, &context_at(&second));
    assert_eq!(cached(&built), [true, false, false]);
    assert!(reused > 2 * 1024 * 1024, "reused {reused}");
}

/// The digest of the layer the `COPY` of `app_plan` wrote in `built`.
fn copy_layer(store: &Store, built: &Built) -> Digest {
    let image = Image::load(store, &built.image, &Platform::host()).unwrap();
    assert_eq!(image.layers().len(), 1);
    image.layers()[0].digest().clone()
}

/// Flips a bit of the byte at `offset` of the blob `digest` on disk; its length stays.
fn corrupt_blob(store: &Store, digest: &Digest, offset: usize) {
    let path = store.blob_path(digest);
    let mut bytes = fs::read(&path).unwrap();
    bytes[offset] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
}

/// Appends a line to the file `f200` of the context `ctx`.
fn change_f200(ctx: &Path) {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(ctx.join("f200"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"changed\n").unwrap();
}

// See: issue 13
#[test]
fn a_chunk_changed_on_disk_does_not_reach_the_next_layer() {
    use crate::layer::{run, sha256sum};
    use mkimage_core::layer::Compression;

    for (compression, codec) in [
        (Compression::Gzip { level: 6 }, "gzip"),
        (Compression::Zstd { level: 3 }, "zstd"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        noise_context(&ctx);
        let store = Store::open(dir.path().join("store")).unwrap();
        let options = BuildOptions {
            compression,
            source_date_epoch: Some(1_700_000_000),
            ..BuildOptions::default()
        };
        let first = build(&store, &app_plan(), &context_at(&ctx), &options);
        // Inside the first chunk (`app/`, `app/f000`, ...), far from `f200`.
        corrupt_blob(&store, &copy_layer(&store, &first), 100);

        // The `COPY` runs again, and the first chunk is one it would copy.
        change_f200(&ctx);
        let warm = build(&store, &app_plan(), &context_at(&ctx), &options);
        assert_eq!(cached(&warm), [true, false, false]);
        let cold_store = Store::open(dir.path().join("cold")).unwrap();
        let cold = build(&cold_store, &app_plan(), &context_at(&ctx), &options);
        let layer = copy_layer(&store, &warm);
        assert_eq!(layer, copy_layer(&cold_store, &cold), "{compression:?}");
        assert_eq!(warm.image, cold.image);

        // The blob has the digest the image names and holds the context's files.
        let blob = fs::read(store.blob_path(&layer)).unwrap();
        assert_eq!(sha256sum(&blob), layer.to_string());
        let tar = run(codec, codec, &["-dc"], &blob);
        let listing = String::from_utf8(run("tar", "tar", &["-tf", "-"], &tar)).unwrap();
        assert_eq!(listing.lines().count(), 1 + 256, "{listing}");
        for file in ["f000", "f001", "f200"] {
            let member = format!("app/{file}");
            let content = run("tar", "tar", &["-xOf", "-", &member], &tar);
            assert!(content == fs::read(ctx.join(file)).unwrap(), "{member}");
        }
    }
}

/// Collects the warnings of a build.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl mkimage_core::events::Events for Warnings {
    fn warning(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

/// Builds `app_plan` from `ctx` into `store` with gzip and clamped mtimes, and returns
/// the build with the warnings it gave.
fn build_warned(store: &Store, ctx: &Path) -> (Built, Vec<String>) {
    let events = Warnings::default();
    let options = BuildOptions {
        source_date_epoch: Some(1_700_000_000),
        ..BuildOptions::default()
    };
    let built = Builder::new(store.clone())
        .build(&app_plan(), &context_at(ctx), &options, &events)
        .unwrap();
    (built, events.0.into_inner().unwrap())
}

// See: issue 13
#[test]
fn a_corrupt_earlier_layer_is_reported_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    noise_context(&ctx);
    let store = Store::open(dir.path().join("store")).unwrap();
    let (first, _) = build_warned(&store, &ctx);
    let earlier = copy_layer(&store, &first);
    corrupt_blob(&store, &earlier, 100);
    let actual = mkimage_core::digest::sha256(&fs::read(store.blob_path(&earlier)).unwrap());

    let original = fs::read(ctx.join("f200")).unwrap();
    change_f200(&ctx);
    let (warm, warnings) = build_warned(&store, &ctx);
    assert_eq!(cached(&warm), [true, false, false]);
    assert_eq!(
        warnings,
        [format!(
            "layer `{earlier}` of an earlier build did not match its chunk index in 1 of the \
             chunks this step would have copied, which it compressed instead: blob \
             `{earlier}` is corrupt: its content has digest `{actual}`; it was removed from \
             the store"
        )]
    );
    assert!(!store.has_blob(&earlier));
    let index = store.records("blob-chunks").unwrap();
    let removed = index.get::<serde_json::Value>(earlier.digest()).unwrap();
    assert!(removed.is_none());

    // What still names it fails loudly rather than reading wrong bytes.
    let image = mkimage_core::oci::ArchiveImage {
        descriptor: first.image.clone(),
        names: Vec::new(),
    };
    let format = mkimage_core::oci::ArchiveFormat::Oci;
    let saved =
        mkimage_core::oci::write_archive(&store, &[image], format, &Platform::host(), Vec::new());
    let error = saved.expect_err("the first image lost its layer");
    assert_eq!(
        error.to_string(),
        format!("blob `{earlier}` is not in the store")
    );
    // Its cache entry is a miss: the `COPY` runs again and writes it intact.
    fs::write(ctx.join("f200"), original).unwrap();
    let (again, warnings) = build_warned(&store, &ctx);
    assert_eq!(
        (cached(&again), warnings),
        (vec![true, false, true], vec![])
    );
    assert_eq!(copy_layer(&store, &again), earlier);
    store.open_verified(&earlier).unwrap().finish().unwrap();
}

// See: issue 13
#[test]
fn a_wrong_chunk_index_is_removed_and_its_blob_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    noise_context(&ctx);
    let store = Store::open(dir.path().join("store")).unwrap();
    let (first, _) = build_warned(&store, &ctx);
    let earlier = copy_layer(&store, &first);
    // The recorded hash of the first chunk's compressed bytes changes.
    let index = store.records("blob-chunks").unwrap();
    let mut value: serde_json::Value = index.get(earlier.digest()).unwrap().unwrap();
    value["chunks"][0]["compressed"] = "00".repeat(32).into();
    index
        .put_weak(earlier.digest(), &value, std::slice::from_ref(&earlier))
        .unwrap();

    change_f200(&ctx);
    let (warm, warnings) = build_warned(&store, &ctx);
    let (cold, _) = build_warned(&Store::open(dir.path().join("cold")).unwrap(), &ctx);
    assert_eq!(warm.image, cold.image);
    assert_eq!(
        warnings,
        [format!(
            "layer `{earlier}` of an earlier build did not match its chunk index in 1 of the \
             chunks this step would have copied, which it compressed instead: the blob is \
             intact, and its index, which was wrong, was removed"
        )]
    );
    assert!(store.has_blob(&earlier));
    let removed = index.get::<serde_json::Value>(earlier.digest()).unwrap();
    assert!(removed.is_none());
}

fn context_at(dir: &Path) -> Context {
    Context::open(dir, None).unwrap()
}

/// The cache keys of a build's steps, in order.
fn keys(built: &Built) -> Vec<mkimage_core::cache::CacheKey> {
    built.steps.iter().map(|s| s.key.clone()).collect()
}

/// The size of the largest blob in `store`.
fn largest_blob(store: &Store) -> u64 {
    fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .max()
        .unwrap_or(0)
}

// See: issue 13
#[test]
fn a_config_too_large_fails_at_its_step_and_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let label = |key: &str, line: usize| {
        let value = "x".repeat(6 << 20);
        let text = format!("LABEL {key}={value}");
        step(Op::Label(vec![KeyValue::new(key, value)]), line, &text)
    };
    // Each label is in the labels and in the history: 12 MiB, then 24 MiB.
    let plan = plan(vec![label("a", 2), label("b", 3)]);
    let error = Builder::new(store.clone())
        .build(&plan, &context, &BuildOptions::default(), &NoEvents)
        .unwrap_err();
    let mkimage_core::Error::Build(BuildError::Step { span, source, .. }) = error else {
        panic!("not a step error: {error:?}");
    };
    assert_eq!(span.line, 3);
    assert_eq!(
        source.to_string(),
        "the image config would be larger than the 16 MiB an image config may hold"
    );
    assert!(largest_blob(&store) < 1 << 20);

    // Nor is one written by hand.
    let mut config = mkimage_core::oci::ImageConfig::default();
    config
        .config
        .labels
        .insert("a".into(), "x".repeat(CONFIG_LIMIT));
    let error = mkimage_core::oci::write_image(&store, &config, &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the image config is {} bytes, more than the 16777216 an image config may hold",
            CONFIG_LIMIT + 97
        )
    );
    assert!(largest_blob(&store) < 1 << 20);
}

// See: issue 13
#[test]
fn a_chain_of_four_thousand_stages_builds() {
    // Each stage copied the images of every stage built before it: 4,000 took 21 s.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let mut chain = plan(vec![step(
        Op::Label(vec![KeyValue::new("first", "1")]),
        2,
        "LABEL first=1",
    )]);
    for index in 1..4000 {
        chain.stages.push(Stage {
            base: Base::Stage(index - 1),
            span: Span {
                line: index + 2,
                col: 1,
            },
            ..plan(Vec::new()).stages.remove(0)
        });
    }
    chain.stages[3999]
        .steps
        .push(step(Op::User("app".into()), 4002, "USER app"));
    chain.target = 3999;
    let built = build(&store, &chain, &context, &BuildOptions::default());
    assert_eq!(cached(&built), [false, false]);
    let image = Image::load(&store, &built.image, &Platform::host()).unwrap();
    assert_eq!(image.config().config.labels["first"], "1");
    assert_eq!(image.config().config.user.as_deref(), Some("app"));
    assert_eq!(image.config().history.len(), 2);
}

// See: issue 13
#[test]
fn copy_from_errors_name_the_stage_or_image_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let context = context(&dir.path().join("ctx"));
    let copy_from = |from: Source, source: &str| {
        let mut copy = Copy::new(vec![source.into()], "/");
        copy.from = from;
        step(Op::Copy(copy), 3, "COPY --from")
    };
    let base = plan(vec![step(
        Op::Copy(Copy::new(vec!["run".into()], "/run")),
        2,
        "COPY run /run",
    )]);
    let error = |stages: Vec<Stage>| {
        let plan = Plan {
            target: stages.len() - 1,
            stages,
        };
        let error = Builder::new(store.clone())
            .build(&plan, &context, &BuildOptions::default(), &NoEvents)
            .unwrap_err();
        let mkimage_core::Error::Build(BuildError::Step { source, .. }) = error else {
            panic!("not a step error: {error:?}");
        };
        source.to_string()
    };
    let from_stage = |name: Option<&str>| {
        let mut named = base.stages[0].clone();
        named.name = name.map(str::to_owned);
        let reader = plan(vec![copy_from(Source::Stage(0), "/nope")]).stages;
        [vec![named], reader].concat()
    };
    assert_eq!(
        error(from_stage(Some("build"))),
        "source `/nope` matches no file in stage `build`"
    );
    assert_eq!(
        error(from_stage(None)),
        "source `/nope` matches no file in stage `stage-0`"
    );

    let tagged = BuildOptions {
        tags: vec!["localhost/it/base:1".parse().unwrap()],
        ..BuildOptions::default()
    };
    build(&store, &base, &context, &tagged);
    let image = Source::Image("localhost/it/base:1".into());
    assert_eq!(
        error(plan(vec![copy_from(image.clone(), "/nope")]).stages),
        "source `/nope` matches no file in image `localhost/it/base:1`"
    );
    assert_eq!(
        error(plan(vec![copy_from(image, "../../x")]).stages),
        "source `../../x` leaves image `localhost/it/base:1`"
    );
}

// See: issue 13
#[test]
fn copy_chown_reads_only_the_first_four_mib_of_the_image_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let ctx = dir.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    // `app` within the first 4 MiB, `late` after them.
    let mut passwd = b"app:x:1500:1600::/:/bin/sh\n".to_vec();
    while passwd.len() < 4 * 1024 * 1024 {
        passwd.extend_from_slice(b"# padding\n");
    }
    passwd.extend_from_slice(b"late:x:1501:1601::/:/bin/sh\n");
    fs::write(ctx.join("passwd"), passwd).unwrap();
    fs::write(ctx.join("f"), "f").unwrap();
    let context = context_at(&ctx);
    let chowned = |user: &str| {
        let mut copy = Copy::new(vec!["f".into()], "/f");
        copy.chown = Some(user.to_owned());
        let text = format!("COPY --chown={user} f /f");
        plan(vec![
            step(
                Op::Copy(Copy::new(vec!["passwd".into()], "/etc/passwd")),
                2,
                "COPY passwd /etc/passwd",
            ),
            step(Op::Copy(copy), 3, &text),
        ])
    };
    build(&store, &chowned("app"), &context, &BuildOptions::default());
    let error = Builder::new(store.clone())
        .build(
            &chowned("late"),
            &context,
            &BuildOptions::default(),
            &NoEvents,
        )
        .unwrap_err();
    let mkimage_core::Error::Build(BuildError::Step { span, source, .. }) = error else {
        panic!("not a step error: {error:?}");
    };
    assert_eq!(span.line, 3);
    assert_eq!(
        source.to_string(),
        "unable to find user `late`: no matching entries in /etc/passwd"
    );
}
