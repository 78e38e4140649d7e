//! `RUN` steps through [`Runner`]: real sandboxes over a busybox image, layers checked
//! with `tar`.

use std::process::Command as Process;
use std::sync::Mutex;

use mkimage_core::build::{BuildOptions, Builder};
use mkimage_core::context::Context;
use mkimage_core::events::{Events, StepRef, Stream};
use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, WrittenLayer, write_layer,
};
use mkimage_core::oci::{Image, RunConfig};
use mkimage_core::oci_spec::image::{Descriptor, Digest};
use mkimage_core::plan::{
    Base, Command, InlineFile, KeyValue, Mount, Network, Op, Plan, Platform, Run, Sharing, Source,
    Span, Stage, Step, StepMeta,
};
use mkimage_core::run::{ImageLayers, RootfsMode, RunError, RunStep, Runner, StepInputs};
use mkimage_core::store::Store;
use mkimage_core::testutil::{SubidUser, busybox_image};
use tempfile::TempDir;

/// Collects a step's output.
#[derive(Default)]
struct Output(Mutex<Vec<u8>>);

impl Events for Output {
    fn step_output(&self, _step: &StepRef, _stream: Stream, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

impl Output {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

struct Fixture {
    _dir: TempDir,
    store: Store,
    image: Image,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::new_in(&std::env::temp_dir())
    }

    /// A fixture whose store is in a new temp directory in `parent`.
    fn new_in(parent: &std::path::Path) -> Fixture {
        let dir = tempfile::tempdir_in(parent).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let image = busybox_image(&store, "busybox:test").unwrap();
        let image = Image::load(&store, &image, &Platform::host()).unwrap();
        Fixture {
            _dir: dir,
            store,
            image,
        }
    }

    fn runner(&self) -> Runner {
        Runner::new(&self.store).layer_options(LayerOptions {
            compression: Compression::Gzip { level: 1 },
            source_date_epoch: Some(0),
            threads: Some(1),
            ..LayerOptions::default()
        })
    }

    /// Runs `run` with `config` (the image's, when `None`).
    fn run_with(
        &self,
        runner: &Runner,
        run: &Run,
        config: Option<&RunConfig>,
    ) -> (Result<Option<WrittenLayer>, RunError>, String) {
        let config = config.unwrap_or(&self.image.config().config);
        let layers = (self.image.layers(), self.image.diff_ids());
        self.run_over(runner, layers, run, config)
    }

    /// Runs `run` with `config` over `layers` and their diff_ids.
    fn run_over(
        &self,
        runner: &Runner,
        (layers, diff_ids): (&[Descriptor], &[Digest]),
        run: &Run,
        config: &RunConfig,
    ) -> (Result<Option<WrittenLayer>, RunError>, String) {
        let events = Output::default();
        let input = RunStep {
            layers,
            diff_ids,
            config,
            run,
            stages: &[],
            images: &[],
        };
        let result = runner.run(&input, &step(), &events);
        (result, events.text())
    }

    /// The image's layers, to mount.
    fn layers(&self) -> ImageLayers<'_> {
        ImageLayers {
            layers: self.image.layers(),
            diff_ids: self.image.diff_ids(),
        }
    }

    fn sh(&self, script: &str) -> (Option<WrittenLayer>, String) {
        let (result, output) = self.run_with(&self.runner(), &shell(script), None);
        (result.unwrap(), output)
    }

    /// `tar -tvzf` of a layer: `type mode owner name[ -> target]` per entry.
    fn listing(&self, layer: &WrittenLayer) -> Vec<String> {
        let out = Process::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(self.store.blob_path(&layer.digest))
            .output()
            .expect("tar (Debian package `tar`)");
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let mut text = format!("{} {} {}", fields[0], fields[1], fields[5..].join(" "));
                text.truncate(text.trim_end().len());
                text
            })
            .collect()
    }
}

fn step() -> StepRef {
    StepRef {
        stage: 0,
        stage_name: None,
        step: 0,
        steps: 1,
        text: "RUN test".into(),
    }
}

fn shell(script: &str) -> Run {
    Run::new(Command::Shell(script.into()))
}

#[test]
fn created_changed_and_deleted_files_make_the_layer() {
    let fixture = Fixture::new();
    let (layer, _) = fixture.sh(
        "echo new > /new.txt && echo 'x:x:5:5::/:/bin/sh' >> /etc/passwd && rm /etc/group \
         && rm -r /tmp && mkdir -m 1777 /tmp && touch /tmp/fresh",
    );
    let layer = layer.expect("a layer");
    assert_eq!(
        fixture.listing(&layer),
        [
            "drwxr-xr-x 0/0 etc/",
            "---------- 0/0 etc/.wh.group",
            "-rw-r--r-- 0/0 etc/passwd",
            "-rw-r--r-- 0/0 new.txt",
            "drwxrwxrwt 0/0 tmp/",
            "---------- 0/0 tmp/.wh..wh..opq",
            "-rw-r--r-- 0/0 tmp/fresh",
        ]
    );
}

#[test]
fn copy_fallback_gives_the_same_layer() {
    let fixture = Fixture::new();
    // (No replaced directory here: an empty directory made again in place may get its
    // old inode back, and then a snapshot cannot tell it was replaced.)
    let script = "echo new > /new.txt && rm /bin/cat && echo 'x:x:5:5::/:/bin/sh' >> /etc/passwd";
    let (overlay, _) = fixture.run_with(
        &fixture.runner().rootfs_mode(RootfsMode::Overlay),
        &shell(script),
        None,
    );
    let (copy, _) = fixture.run_with(
        &fixture.runner().rootfs_mode(RootfsMode::Copy),
        &shell(script),
        None,
    );
    let (overlay, copy) = (overlay.unwrap().unwrap(), copy.unwrap().unwrap());
    assert_eq!(fixture.listing(&copy), fixture.listing(&overlay));
    assert_eq!(copy.diff_id, overlay.diff_id);
}

// See: issue 16
#[test]
fn a_deleted_and_a_replaced_directory_become_a_whiteout_and_an_opaque_directory() {
    let fixture = Fixture::new();
    let mut layers = fixture.image.layers().to_vec();
    let mut diff_ids = fixture.image.diff_ids().to_vec();
    let dir = |path: &str| Entry::new(LayerPath::new(path).unwrap(), EntryKind::Dir);
    let file = |path: &str| {
        Entry::new(
            LayerPath::new(path).unwrap(),
            EntryKind::File(Content::Bytes(b"old\n".to_vec())),
        )
    };
    add_layer(
        &fixture,
        &mut layers,
        &mut diff_ids,
        vec![
            dir("gone"),
            dir("gone/sub"),
            file("gone/sub/a"),
            file("gone/b"),
            dir("redo"),
            file("redo/old"),
            dir("redo/sub"),
            file("redo/sub/c"),
            dir("keep"),
            file("keep/old"),
            file("keep/x.y"),
        ],
    );
    let run = shell(
        "rm -r /gone /keep/old && rm -r /redo && mkdir -m 700 /redo && echo new > /redo/new \
         && echo new > /keep/x-y",
    );
    for mode in [RootfsMode::Overlay, RootfsMode::Copy] {
        let runner = fixture.runner().rootfs_mode(mode);
        let config = &fixture.image.config().config;
        let (layer, text) = fixture.run_over(&runner, (&layers, &diff_ids), &run, config);
        let layer = layer
            .unwrap()
            .unwrap_or_else(|| panic!("{mode:?}: no layer: {text}"));
        assert_eq!(
            fixture.listing(&layer),
            [
                "---------- 0/0 .wh.gone",
                "drwxr-xr-x 0/0 keep/",
                "---------- 0/0 keep/.wh.old",
                "-rw-r--r-- 0/0 keep/x-y",
                "drwx------ 0/0 redo/",
                "---------- 0/0 redo/.wh..wh..opq",
                "-rw-r--r-- 0/0 redo/new",
            ],
            "{mode:?}"
        );
    }
}

/// The unpacked form of a layer directory: path, type, mode, owner, size, mtime in whole
/// seconds, device, content and opaque mark of each path (what a layer keeps).
fn layer_view(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|item| {
            let item = item.unwrap();
            let meta = item.path().symlink_metadata().unwrap();
            let content = if meta.is_file() {
                std::fs::read(item.path()).unwrap()
            } else {
                Vec::new()
            };
            let opaque = xattr::get(item.path(), "trusted.overlay.opaque").unwrap();
            format!(
                "{} {:o} {}:{} {} {} {} {:?} {:?}",
                item.path().strip_prefix(root).unwrap().display(),
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.size(),
                meta.mtime(),
                meta.rdev(),
                String::from_utf8_lossy(&content),
                opaque,
            )
        })
        .collect()
}

// See: issue 16
#[test]
fn a_steps_upper_directory_becomes_its_layers_unpacked_directory() {
    use mkimage_core::layer::{OverlayFormat, OverlayXattrs, decompress, unpack_overlay};
    use mkimage_core::rootfs::LayerDirs;

    let fixture = Fixture::new();
    let runner = Runner::new(&fixture.store).layer_options(LayerOptions {
        compression: Compression::Gzip { level: 1 },
        threads: Some(1),
        ..LayerOptions::default()
    });
    let run = shell("mkdir -p /d/e && echo one > /d/e/f && ln /d/e/f /d/g && rm /etc/group");
    let (layer, text) = fixture.run_with(&runner, &run, None);
    let layer = layer.unwrap().unwrap_or_else(|| panic!("no layer: {text}"));
    let mut layers = fixture.image.layers().to_vec();
    layers.push(Descriptor::new(
        layer.media_type.clone(),
        layer.size,
        layer.digest.clone(),
    ));
    let mut diff_ids = fixture.image.diff_ids().to_vec();
    diff_ids.push(layer.diff_id.clone());

    // The next step finds the layer unpacked: nothing is unpacked for it.
    #[derive(Default)]
    struct Tasks(Mutex<Vec<String>>);
    impl Events for Tasks {
        fn task_started(&self, task: &mkimage_core::events::TaskRef, _total: Option<u64>) {
            self.0.lock().unwrap().push(task.label.clone());
        }
    }
    let tasks = Tasks::default();
    let dirs = LayerDirs::open(&fixture.store).unwrap();
    let lower = dirs.prepare(&layers, &diff_ids, &tasks).unwrap();
    assert_eq!(*tasks.0.lock().unwrap(), Vec::<String>::new());

    // It holds what unpacking the layer gives.
    let unpacked = tempfile::tempdir().unwrap();
    let blob = std::fs::File::open(fixture.store.blob_path(&layer.digest)).unwrap();
    let tar = decompress(blob, Some(layer.media_type.as_ref())).unwrap();
    let format = OverlayFormat {
        xattrs: OverlayXattrs::Trusted,
        lower: lower[1..].to_vec(),
    };
    unpack_overlay(tar, unpacked.path(), &format).unwrap();
    assert_eq!(layer_view(&lower[0]), layer_view(unpacked.path()));

    let config = &fixture.image.config().config;
    let next = shell("cat /d/g; test -e /etc/group || echo no-group");
    let (second, text) = fixture.run_over(&runner, (&layers, &diff_ids), &next, config);
    assert_eq!(second.unwrap(), None);
    assert_eq!(text, "one\nno-group\n");
}

/// Writes `entries` as a layer into the fixture's store.
fn add_layer(
    fixture: &Fixture,
    layers: &mut Vec<Descriptor>,
    diff_ids: &mut Vec<Digest>,
    entries: Vec<Entry>,
) {
    let options = LayerOptions::default();
    let (blob, layer) =
        write_layer(fixture.store.begin_blob().unwrap(), entries, &options).unwrap();
    blob.commit().unwrap();
    layers.push(Descriptor::new(layer.media_type, layer.size, layer.digest));
    diff_ids.push(layer.diff_id);
}

// See: issue 5
#[test]
fn a_parent_a_layer_does_not_carry_keeps_the_metadata_from_below() {
    let fixture = Fixture::new();
    let mut layers = fixture.image.layers().to_vec();
    let mut diff_ids = fixture.image.diff_ids().to_vec();
    let dir = |path: &str| Entry::new(LayerPath::new(path).unwrap(), EntryKind::Dir);
    add_layer(
        &fixture,
        &mut layers,
        &mut diff_ids,
        vec![
            dir("a")
                .with_mode(0o700)
                .with_owner(1000, 1000)
                .with_mtime(12345),
        ],
    );
    let file = Entry::new(
        LayerPath::new("a/b/file").unwrap(),
        EntryKind::File(Content::Bytes(b"x".to_vec())),
    );
    add_layer(&fixture, &mut layers, &mut diff_ids, vec![file]);
    let run = shell("stat -c '%a %u %g %Y' /a /a/b; cat /a/b/file");
    for mode in [RootfsMode::Overlay, RootfsMode::Copy] {
        let runner = fixture.runner().rootfs_mode(mode);
        let config = &fixture.image.config().config;
        let (layer, text) = fixture.run_over(&runner, (&layers, &diff_ids), &run, config);
        assert_eq!(layer.unwrap(), None, "{mode:?}");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("700 1000 1000 12345"),
            "{mode:?}: {text}"
        );
        assert!(
            lines.next().unwrap().starts_with("755 0 0 "),
            "{mode:?}: {text}"
        );
        assert_eq!(lines.next(), Some("x"), "{mode:?}");
    }
}

#[test]
fn no_changes_make_no_layer() {
    let fixture = Fixture::new();
    let (layer, output) = fixture.sh("echo hello; cat /etc/hosts >/dev/null; ls /proc >/dev/null");
    assert_eq!(output, "hello\n");
    assert_eq!(layer, None);
}

#[test]
fn user_workdir_env_and_args() {
    let fixture = Fixture::new();
    let config = RunConfig {
        env: Some(vec!["PATH=/bin".into(), "A=from-env".into()]),
        user: Some("app".into()),
        working_dir: Some("/home/app/work".into()),
        ..RunConfig::default()
    };
    let mut run = shell("echo $(id -u):$(id -g):$(id -G) $(pwd) $A $B $HOME; touch mine");
    // The arguments in effect replace the image's variables of the same name.
    run.env = vec![
        KeyValue::new("A", "from-arg"),
        KeyValue::new("B", "from-arg"),
    ];
    let (layer, output) = fixture.run_with(&fixture.runner(), &run, Some(&config));
    assert_eq!(
        output,
        "1000:1000:1000 10 /home/app/work from-arg from-arg /home/app\n"
    );
    let layer = layer.unwrap().unwrap();
    assert_eq!(
        fixture.listing(&layer),
        [
            "drwxr-xr-x 1000/1000 home/",
            "drwxr-xr-x 1000/1000 home/app/",
            "drwxr-xr-x 1000/1000 home/app/work/",
            "-rw-r--r-- 1000/1000 home/app/work/mine",
        ]
    );
}

#[test]
fn shell_and_exec_forms_and_heredoc_scripts() {
    let fixture = Fixture::new();
    let config = RunConfig {
        env: Some(vec!["PATH=/bin".into()]),
        shell: Some(vec!["/bin/echo".into(), "via".into()]),
        ..RunConfig::default()
    };
    let (_, output) = fixture.run_with(&fixture.runner(), &shell("echo shell"), Some(&config));
    assert_eq!(output, "via echo shell\n");

    let exec = Run::new(Command::Exec(vec!["echo".into(), "$HOME".into()]));
    let (_, output) = fixture.run_with(&fixture.runner(), &exec, None);
    assert_eq!(output, "$HOME\n");

    let mut heredoc = shell("/dev/pipes/EOF");
    heredoc.files = vec![InlineFile {
        name: "EOF".into(),
        content: "#!/bin/sh\necho \"script as $(id -un)\"\n".into(),
    }];
    let (layer, output) = fixture.run_with(&fixture.runner(), &heredoc, None);
    assert_eq!(output, "script as root\n");
    assert_eq!(layer.unwrap(), None);
}

#[test]
fn a_failing_command_names_its_code_and_last_lines() {
    let fixture = Fixture::new();
    let script = "for i in $(seq 1 20); do echo line $i; done; touch /left; echo oops >&2; exit 3";
    let (result, _) = fixture.run_with(&fixture.runner(), &shell(script), None);
    let err = result.unwrap_err();
    let mut expected =
        format!("the command `/bin/sh -c {script}` exited with code 3; its last output:");
    for i in 12..=20 {
        expected.push_str(&format!("\n  line {i}"));
    }
    expected.push_str("\n  oops");
    assert_eq!(err.to_string(), expected);
    assert!(matches!(err, RunError::Failed { code: 3, .. }));
    // Nothing of the step is left in the store.
    let tmp = fixture.store.root().join("tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

#[test]
fn network_none_has_only_loopback() {
    let fixture = Fixture::new();
    let mut run =
        shell("ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    run.network = Network::None;
    let (result, output) = fixture.run_with(&fixture.runner(), &run, None);
    result.unwrap();
    assert_eq!(output.split_whitespace().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn secrets_tmpfs_and_caches() {
    let fixture = Fixture::new();
    let inputs = StepInputs::default().secret("token", "s3cr3t");
    let runner = fixture.runner().inputs(inputs);
    let mut run = shell(
        "cat /run/secrets/token; echo \" $TOKEN\"; echo scratch > /scratch/x; \
         cat /cache/count 2>/dev/null || echo 0; echo 1 > /cache/count",
    );
    run.mounts = vec![
        Mount::Secret {
            id: "token".into(),
            target: None,
            env: None,
            required: true,
            mode: 0o400,
            uid: 0,
            gid: 0,
        },
        Mount::Secret {
            id: "token".into(),
            target: None,
            env: Some("TOKEN".into()),
            required: true,
            mode: 0o400,
            uid: 0,
            gid: 0,
        },
        Mount::Tmpfs {
            target: "/scratch".into(),
            size: None,
        },
        Mount::Cache {
            target: "/cache".into(),
            id: "counter".into(),
            sharing: Sharing::Locked,
            from: None,
            source: "/".into(),
            readonly: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        },
    ];
    let (first, output) = fixture.run_with(&runner, &run, None);
    assert_eq!(output, "s3cr3t s3cr3t\n0\n");
    let (second, output) = fixture.run_with(&runner, &run, None);
    assert_eq!(output, "s3cr3t s3cr3t\n1\n", "the cache persists");
    // The mount points come from a stub, never the layer.
    assert_eq!(first.unwrap(), None);
    assert_eq!(second.unwrap(), None);

    let missing = fixture
        .run_with(&fixture.runner(), &run, None)
        .0
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "secret `token` was not given to the build"
    );
}

// See: issue 17
#[test]
fn caches_of_one_id_with_other_modes_or_owners_share_nothing() {
    let fixture = Fixture::new();
    let runner = fixture.runner();
    let cache = |mode: u32, uid: u32, gid: u32| Mount::Cache {
        target: "/cache".into(),
        id: "one-id".into(),
        sharing: Sharing::Shared,
        from: None,
        source: "/".into(),
        readonly: false,
        mode,
        uid,
        gid,
    };
    let mut run = shell(
        "stat -c '%a %u:%g' /cache; cat /cache/seen 2>/dev/null || echo none; \
         echo \"$(stat -c '%a-%u-%g' /cache)\" > /cache/seen",
    );
    let mut output_with = |mount: Mount| {
        run.mounts = vec![mount];
        let (result, output) = fixture.run_with(&runner, &run, None);
        result.unwrap();
        output
    };
    assert_eq!(output_with(cache(0o755, 0, 0)), "755 0:0\nnone\n");
    assert_eq!(output_with(cache(0o755, 1000, 0)), "755 1000:0\nnone\n");
    assert_eq!(output_with(cache(0o755, 0, 1000)), "755 0:1000\nnone\n");
    assert_eq!(output_with(cache(0o700, 0, 0)), "700 0:0\nnone\n");
    // The same id, mode and owner again: the same cache.
    assert_eq!(output_with(cache(0o755, 0, 0)), "755 0:0\n755-0-0\n");
    assert_eq!(
        output_with(cache(0o755, 1000, 0)),
        "755 1000:0\n755-1000-0\n"
    );
    assert_eq!(output_with(cache(0o700, 0, 0)), "700 0:0\n700-0-0\n");
}

#[test]
fn zombies_are_reaped_and_nothing_stays_behind() {
    let fixture = Fixture::new();
    let (_, output) = fixture.sh("sh -c 'sleep 0.1 & exit 0'; sleep 0.5; \
         echo zombies: $(cat /proc/[0-9]*/stat | cut -d' ' -f3 | grep -c Z); \
         sleep 31.4159 & echo started");
    assert_eq!(output, "zombies: 0\nstarted\n");
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.unwrap().path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains("31.4159"))
        .count();
    assert_eq!(left, 0, "the background process died with the step");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = fixture.store.root().display().to_string();
    assert!(!mounts.contains(&root), "{mounts}");
}

#[test]
fn bind_mounts_of_the_context_and_a_stage() {
    let fixture = Fixture::new();
    let context = tempfile::tempdir().unwrap();
    std::fs::create_dir(context.path().join("src")).unwrap();
    std::fs::write(context.path().join("src/hello.txt"), "hello\n").unwrap();
    let runner = fixture
        .runner()
        .inputs(StepInputs::default().context(context.path()));
    let bind = |target: &str, source: &str, from: Source, rw: bool| Mount::Bind {
        target: target.into(),
        source: source.into(),
        from,
        rw,
    };
    let mut run = shell(
        "cat /ro/hello.txt; touch /ro/x 2>/dev/null || echo read-only; \
         echo changed > /rw/hello.txt && cat /rw/hello.txt; ls /stage/bin/busybox; \
         touch /stage/etc/x 2>/dev/null || echo read-only; \
         grep -c root /stage/etc/passwd; echo > /stage-rw/passwd; grep -c root /stage-rw/passwd || true",
    );
    run.mounts = vec![
        bind("/ro", "src", Source::Context, false),
        bind("/rw", "/src/", Source::Context, true),
        bind("/stage", "/", Source::Stage(0), false),
        bind("/stage-rw", "/etc", Source::Stage(0), true),
    ];
    let stage = [Some(fixture.layers())];
    let events = Output::default();
    let input = RunStep {
        layers: fixture.image.layers(),
        diff_ids: fixture.image.diff_ids(),
        config: &fixture.image.config().config,
        run: &run,
        stages: &stage,
        images: &[],
    };
    let expected = "hello\nread-only\nchanged\n/stage/bin/busybox\nread-only\n1\n0\n";
    let layer = runner.run(&input, &step(), &events).unwrap();
    assert_eq!(events.text(), expected);
    assert_eq!(layer, None);
    // The stage is unpacked once, and rw writes never reach the shared tree.
    let merged = fixture.store.root().join("data/rootfs/3/merged");
    let unpacked = || {
        std::fs::read_dir(&merged)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect::<Vec<_>>()
    };
    let first = unpacked();
    assert_eq!(first.len(), 1, "{first:?}");
    let events = Output::default();
    runner.run(&input, &step(), &events).unwrap();
    assert_eq!(events.text(), expected);
    assert_eq!(unpacked(), first);
    assert_eq!(
        std::fs::read_to_string(context.path().join("src/hello.txt")).unwrap(),
        "hello\n",
        "rw writes are discarded"
    );
}

#[test]
fn ssh_agent_socket_is_forwarded() {
    let fixture = Fixture::new();
    let agent = tempfile::tempdir().unwrap();
    let socket = agent.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let runner = fixture
        .runner()
        .inputs(StepInputs::default().ssh("default", &socket));
    // (busybox has no unix socket client: the proxy's forwarding has a unit test.)
    let mut run = shell(
        "test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\"; \
         stat -c '%a %u %g' \"$SSH_AUTH_SOCK\" /agent",
    );
    let ssh = |target: Option<&str>, mode, uid, gid| Mount::Ssh {
        id: "default".into(),
        target: target.map(Into::into),
        required: true,
        mode,
        uid,
        gid,
    };
    // Docker's defaults, then another mode and owner.
    run.mounts = vec![
        ssh(None, 0o600, 0, 0),
        ssh(Some("/agent"), 0o660, 1000, 1001),
    ];
    let (result, output) = fixture.run_with(&runner, &run, None);
    assert_eq!(
        output,
        "/run/buildkit/ssh_agent.0\n600 0 0\n660 1000 1001\n"
    );
    assert_eq!(result.unwrap(), None);
    let mode = std::fs::metadata(&socket).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt as _;
    assert_ne!(
        mode.mode() & 0o777,
        0o660,
        "the agent's own socket is untouched"
    );
}

#[test]
fn cache_sharing_locked_waits_and_private_gets_its_own() {
    let fixture = Fixture::new();
    let cache = |sharing| Mount::Cache {
        target: "/cache".into(),
        id: "shared-log".into(),
        sharing,
        from: None,
        source: "/".into(),
        readonly: false,
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    let mut locked = shell("echo start >> /cache/log; sleep 0.5; echo end >> /cache/log");
    locked.mounts = vec![cache(Sharing::Locked)];
    let fixture = &fixture;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| fixture.run_with(&fixture.runner(), &locked, None).0))
            .collect();
        for run in runs {
            assert_eq!(run.join().unwrap().unwrap(), None);
        }
    });
    let mut read = shell("cat /cache/log");
    read.mounts = vec![cache(Sharing::Shared)];
    let (_, log) = fixture.run_with(&fixture.runner(), &read, None);
    assert_eq!(log, "start\nend\nstart\nend\n", "one step at a time");

    // While a step holds the cache, a private user gets an empty directory of its own.
    let mut hold = shell("touch /cache/held; sleep 1; rm /cache/held");
    hold.mounts = vec![cache(Sharing::Locked)];
    let mut private = shell("ls /cache | wc -l");
    private.mounts = vec![cache(Sharing::Private)];
    let held = fixture
        .store
        .root()
        .join("data/cache-mounts")
        .join(mkimage_core::digest::sha256(b"shared-log").digest())
        .join("held");
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| fixture.run_with(&fixture.runner(), &hold, None).0);
        let start = std::time::Instant::now();
        while !held.exists() {
            assert!(
                start.elapsed().as_secs() < 30,
                "the holder never took the cache"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (result, output) = fixture.run_with(&fixture.runner(), &private, None);
        result.unwrap();
        assert_eq!(output.trim(), "0");
        holder.join().unwrap().unwrap();
    });
}

#[test]
fn a_new_cache_starts_with_the_content_of_from() {
    let fixture = Fixture::new();
    let mut run = shell("ls /cache; echo more > /cache/added");
    run.mounts = vec![Mount::Cache {
        target: "/cache".into(),
        id: "seeded".into(),
        sharing: Sharing::Shared,
        from: Some(Source::Stage(0)),
        source: "/etc".into(),
        readonly: false,
        mode: 0o755,
        uid: 0,
        gid: 0,
    }];
    let stage = [Some(fixture.layers())];
    let input = RunStep {
        layers: fixture.image.layers(),
        diff_ids: fixture.image.diff_ids(),
        config: &fixture.image.config().config,
        run: &run,
        stages: &stage,
        images: &[],
    };
    let first = Output::default();
    fixture.runner().run(&input, &step(), &first).unwrap();
    assert_eq!(first.text(), "group\npasswd\n");
    let second = Output::default();
    fixture.runner().run(&input, &step(), &second).unwrap();
    assert_eq!(
        second.text(),
        "added\ngroup\npasswd\n",
        "seeded once, then kept"
    );
}

#[test]
fn bind_and_cache_mounts_from_an_image_through_the_build() {
    let fixture = Fixture::new();
    busybox_image(&fixture.store, "bbimage").unwrap();
    let context = tempfile::tempdir().unwrap();
    let context = Context::open(context.path(), None).unwrap();
    let mut run = shell("cmp /x /bin/busybox && echo same; ls /c");
    run.mounts = vec![
        Mount::Bind {
            target: "/x".into(),
            source: "/bin/busybox".into(),
            from: Source::Image("bbimage".into()),
            rw: false,
        },
        Mount::Cache {
            target: "/c".into(),
            id: "from-image".into(),
            sharing: Sharing::Shared,
            from: Some(Source::Image("bbimage".into())),
            source: "/etc".into(),
            readonly: true,
            mode: 0o755,
            uid: 0,
            gid: 0,
        },
    ];
    let plan = Plan {
        stages: vec![Stage {
            name: None,
            base: Base::Image("busybox:test".into()),
            platform: None,
            steps: vec![Step {
                op: Op::Run(run),
                meta: StepMeta {
                    span: Span { line: 2, col: 1 },
                    text: "RUN --mount=from=bbimage ...".into(),
                },
            }],
            span: Span { line: 1, col: 1 },
            from_text: None,
        }],
        target: 0,
    };
    let build = |events: &Output| {
        Builder::new(fixture.store.clone())
            .with_executor(fixture.runner())
            .build(&plan, &context, &BuildOptions::default(), events)
            .unwrap()
    };
    let events = Output::default();
    let first = build(&events);
    assert_eq!(events.text(), "same\ngroup\npasswd\n");
    assert!(!first.steps[0].cached);
    let again = build(&Output::default());
    assert!(again.steps[0].cached);
    assert_eq!(again.image, first.image);

    // Another image under the name changes the step's key.
    fixture
        .store
        .tag(&"bbimage".parse().unwrap(), &first.image)
        .unwrap();
    let third = build(&Output::default());
    assert!(!third.steps[0].cached);
}

#[test]
fn a_cache_mount_error_names_the_cache_kind() {
    let fixture = Fixture::new();
    let mut run = shell("true");
    run.mounts = vec![Mount::Cache {
        target: "/c".into(),
        id: "no-context".into(),
        sharing: Sharing::Shared,
        from: Some(Source::Context),
        source: "/".into(),
        readonly: false,
        mode: 0o755,
        uid: 0,
        gid: 0,
    }];
    let (result, _) = fixture.run_with(&fixture.runner(), &run, None);
    let error = result.unwrap_err().to_string();
    assert!(error.contains("--mount=cache"), "{error}");
}

/// Set for [`rootless_owners_inner`] by the test that runs it as an unprivileged user: a
/// directory it may write in.
const ROOTLESS_DIR: &str = "MKIMAGE_IT_ROOTLESS_DIR";

// See: issue 5
#[test]
fn rootless_steps_see_and_write_layer_owners_in_both_modes() {
    // Needs root to add the user, and unprivileged user namespaces.
    let user = SubidUser::add().unwrap();
    if !user.can_unshare() {
        // Skipped only on request: CI must not pass without the test having run.
        assert!(
            std::env::var_os("MKIMAGE_TEST_SKIP_USERNS").is_some(),
            "unprivileged user namespaces are disabled here (set MKIMAGE_TEST_SKIP_USERNS=1 to skip)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let owner = format!("{}:{}", user.uid, user.gid);
    let chown = Process::new("chown")
        .args([&owner, dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    // This test binary again, as the user, running only the inner test.
    let output = user
        .command(&std::env::current_exe().unwrap())
        .args([
            "run::rootless_owners_inner",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(ROOTLESS_DIR, dir.path())
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
}

#[test]
#[ignore = "run as an unprivileged user by rootless_steps_see_and_write_layer_owners_in_both_modes"]
fn rootless_owners_inner() {
    let Some(parent) = std::env::var_os(ROOTLESS_DIR) else {
        return;
    };
    let fixture = Fixture::new_in(std::path::Path::new(&parent));
    let mut layers = fixture.image.layers().to_vec();
    let mut diff_ids = fixture.image.diff_ids().to_vec();
    let entry = |path: &str, kind, mode| {
        Entry::new(LayerPath::new(path).unwrap(), kind)
            .with_mode(mode)
            .with_owner(1000, 1000)
    };
    add_layer(
        &fixture,
        &mut layers,
        &mut diff_ids,
        vec![
            entry("a", EntryKind::Dir, 0o700),
            entry("a/f", EntryKind::File(Content::Bytes(b"x".to_vec())), 0o600),
        ],
    );
    let mut run = shell(
        "stat -c '%u:%g %a' /a /a/f && cat /a/f && mkdir /a/new && echo y > /a/new/g \
         && chown -R 1000:1000 /a/new && chmod 700 /a/new && chmod 600 /a/new/g",
    );
    // Not a test of the network: rootless, the default one needs /dev/net/tun to be open
    // to the user (`exec::helper_rootless` covers it).
    run.network = Network::None;
    for mode in [RootfsMode::Overlay, RootfsMode::Copy] {
        let runner = fixture.runner().rootfs_mode(mode);
        let config = &fixture.image.config().config;
        let (layer, text) = fixture.run_over(&runner, (&layers, &diff_ids), &run, config);
        let layer = layer.unwrap().expect("a layer");
        assert_eq!(text, "1000:1000 700\n1000:1000 600\nx", "{mode:?}");
        assert_eq!(
            fixture.listing(&layer),
            [
                "drwx------ 1000/1000 a/",
                "drwx------ 1000/1000 a/new/",
                "-rw------- 1000/1000 a/new/g",
            ],
            "{mode:?}"
        );
    }
    let temps = std::fs::read_dir(fixture.store.root().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(temps, 0, "no scratch directory is left");
}
