//! The fixed cost of a sandboxed `RUN true`: clone into new namespaces, build the root
//! (overlay or plain directory, `/proc`, `/dev`, resolv.conf and hosts), pivot, run
//! `/bin/true`, reap, tear down — what every `RUN` step pays before its own work.
//!
//! Guards the sandbox's setup and teardown against regressions. `host/fork_exec` runs the
//! same `/bin/true` with `std::process::Command` in the same run, so the overhead reads as
//! a ratio over a plain process spawn; `sandbox/overlay_insecure` runs it without the
//! sandbox's confinement (`RUN --security=insecure`: no seccomp filter, no masked `/proc`
//! paths, no device cgroup), so `sandbox/overlay` over it is what that confinement costs.
//! `sandbox/overlay` is on the default network, a private namespace connected by
//! `slirp4netns`; over `sandbox/overlay_network_host` (the host's network) it is what starting
//! that stack costs each step. Needs root (or unprivileged user namespaces) and the Debian
//! packages `busybox-static` and `slirp4netns`.

use std::path::Path;
use std::process::Command;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mkimage_core::exec::{Rootfs, Sandbox, SandboxSpec};
use mkimage_core::plan::{Network, Security};

fn run_true(sandbox: &Sandbox, spec: &SandboxSpec) {
    let status = sandbox.run(spec, |_, _| {}).expect("run the sandbox");
    assert!(status.success(), "`true` failed: {status}");
}

fn spec(rootfs: Rootfs, network: Network, security: Security) -> SandboxSpec {
    SandboxSpec::builder(rootfs, vec!["/bin/true".into()])
        .network(network)
        .security(security)
        .build()
        .expect("a valid spec")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lower = dir.path().join("lower");
    mkimage_benches::busybox_rootfs(&lower).expect("write the busybox root filesystem");
    for sub in ["upper", "work"] {
        std::fs::create_dir(dir.path().join(sub)).expect("create the overlay directories");
    }
    let overlay = Rootfs::Overlay {
        lower: vec![lower.clone()],
        upper: dir.path().join("upper"),
        work: dir.path().join("work"),
    };
    let sandbox = Sandbox::native().scratch_dir(dir.path());

    let mut group = c.benchmark_group("run_overhead");
    group.sample_size(30);
    group.bench_function(BenchmarkId::new("host", "fork_exec"), |b| {
        b.iter(|| {
            let status = Command::new(Path::new("/bin/true"))
                .status()
                .expect("run /bin/true");
            assert!(status.success());
        })
    });
    for (name, rootfs, network, security) in [
        (
            "overlay",
            overlay.clone(),
            Network::Default,
            Security::Sandbox,
        ),
        (
            "overlay_insecure",
            overlay.clone(),
            Network::Default,
            Security::Insecure,
        ),
        (
            "overlay_network_none",
            overlay.clone(),
            Network::None,
            Security::Sandbox,
        ),
        (
            "overlay_network_host",
            overlay,
            Network::Host,
            Security::Sandbox,
        ),
        (
            "directory",
            Rootfs::Directory(lower),
            Network::Default,
            Security::Sandbox,
        ),
    ] {
        let spec = spec(rootfs, network, security);
        group.bench_function(BenchmarkId::new("sandbox", name), |b| {
            b.iter(|| run_true(&sandbox, &spec))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
