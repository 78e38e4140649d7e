//! The networks of `RUN` steps in `mkimage build`, against real services on the host: a
//! TCP service on the host's loopback holds a secret, and the tests assert which steps
//! reached it; others listen on the host's own address and serve DNS to its resolvers.

use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::run::{Setup, ok};

/// What the host's TCP services send: found in a build's output or files, it shows that a
/// step reached the service.
const SECRET: &str = "host-service-2f6a91c4: only the host may read this";

/// The runtimes each test builds with: the native sandbox and runc.
const RUNTIMES: [&[&str]; 2] = [&[], &["--runtime", "runc"]];

/// A service on the host that answers each client in a thread and counts the clients;
/// dropping it stops it.
struct Service {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    /// A TCP service on a free port of `ip` that sends [`SECRET`] to each connection.
    fn tcp(ip: IpAddr) -> Service {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Service::spawn(addr, move || match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = writeln!(stream, "{SECRET}");
                true
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                false
            }
            Err(error) => panic!("accept on {addr}: {error}"),
        })
    }

    /// A DNS server on port 53 of `ip` that answers every `A` query with [`DNS_ANSWER`]
    /// and every other query with no record.
    fn dns(ip: Ipv4Addr) -> Service {
        let socket = UdpSocket::bind((ip, 53)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        Service::spawn(addr, move || {
            let mut query = [0u8; 512];
            match socket.recv_from(&mut query) {
                Ok((len, client)) => {
                    let reply = dns_reply(&query[..len]).expect("a DNS query");
                    socket.send_to(&reply, client).unwrap();
                    true
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    false
                }
                Err(error) => panic!("receive on {addr}: {error}"),
            }
        })
    }

    /// Calls `serve_one` (which waits a little, and says whether it served a client) until
    /// dropped.
    fn spawn(addr: SocketAddr, mut serve_one: impl FnMut() -> bool + Send + 'static) -> Service {
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop) = (served.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if serve_one() {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Service {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The address [`Service::dns`] gives every name.
const DNS_ANSWER: [u8; 4] = [192, 0, 2, 123];

/// The answer to the DNS `query`: its id and question, then one `A` record with
/// [`DNS_ANSWER`] when it asks for one (RFC 1035 §4.1). Written here because this one
/// fixed answer needs no DNS library.
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    let question = query.get(12..)?;
    let name_end = question.iter().position(|&byte| byte == 0)?;
    let question = question.get(..name_end + 5)?;
    let is_a = question[name_end + 1..name_end + 3] == [0, 1];
    let mut reply = query[..2].to_vec();
    reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if is_a {
        // A pointer to the question's name, type A, class IN, a minute, four bytes.
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&DNS_ANSWER);
    }
    Some(reply)
}

/// The host's own address on its default route: what docker containers reach the host by.
fn host_address() -> IpAddr {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket
        .connect((Ipv4Addr::new(203, 0, 113, 1), 9))
        .expect("the host needs an IPv4 default route for this test");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "{ip}");
    ip
}

/// A Dockerfile whose `RUN` (with `flags`) tries each address of the build argument
/// `ADDRESSES` on `port` with busybox `nc`, and writes `ADDRESS reached` or
/// `ADDRESS refused` per address to `/result`.
fn probe(port: u16, flags: &str) -> String {
    format!(
        "FROM busybox:test\n\
         ARG ADDRESSES\n\
         RUN {flags} for a in $ADDRESSES; do \
           if nc -w 3 $a {port} </dev/null | grep -q host-service; then echo \"$a reached\"; \
           else echo \"$a refused\"; fi; \
         done > /result\n"
    )
}

/// Builds `setup` with `args` into `rootfs/`; the built file `name` and the progress.
fn built(setup: &Setup, name: &str, args: &[&str]) -> (String, String) {
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    let mut all = vec!["--progress", "plain", "--no-cache", "-o", &local];
    all.extend_from_slice(args);
    let (_, progress) = ok(&setup.build(&all));
    (fs::read_to_string(rootfs.join(name)).unwrap(), progress)
}

fn failed(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// See: issue 13
#[test]
fn default_network_keeps_the_hosts_loopback_out() {
    for runtime in RUNTIMES {
        let service = Service::tcp(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let setup = Setup::new(&probe(service.addr.port(), ""));
        // The loopback, and the address slirp4netns would map to it.
        let mut args = vec!["--build-arg", "ADDRESSES=127.0.0.1 10.0.2.2"];
        args.extend_from_slice(runtime);
        let (result, progress) = built(&setup, "result", &args);
        assert_eq!(
            result, "127.0.0.1 refused\n10.0.2.2 refused\n",
            "{runtime:?}"
        );
        assert!(!progress.contains(SECRET), "{progress}");
        assert_eq!(service.served(), 0, "{runtime:?}");

        // The host's network, asked for and allowed, reaches it.
        let mut args = vec![
            "--build-arg",
            "ADDRESSES=127.0.0.1",
            "--network",
            "host",
            "--allow",
            "network.host",
        ];
        args.extend_from_slice(runtime);
        let (result, _) = built(&setup, "result", &args);
        assert_eq!(result, "127.0.0.1 reached\n", "{runtime:?}");
        assert!(service.served() > 0, "{runtime:?}");
    }
}

// See: issue 13
#[test]
fn host_network_needs_the_entitlement() {
    let service = Service::tcp(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = service.addr.port();
    let setup = Setup::new(&probe(port, ""));
    let stderr = failed(&setup.build(&["--build-arg", "ADDRESSES=127.0.0.1", "--network", "host"]));
    assert_eq!(
        stderr,
        "error: `--network host` shares the host's network with every `RUN` step, which \
         needs the `network.host` entitlement (`--allow network.host`)\n"
    );

    // A step's own `--network=host` is refused before any step runs, as BuildKit does.
    let setup = Setup::new(&format!(
        "FROM busybox:test\nRUN nc -w 3 127.0.0.1 {port} > /first || true\n{}",
        probe(port, "--network=host").replacen("FROM busybox:test\n", "", 1)
    ));
    let stderr = failed(&setup.build(&["--build-arg", "ADDRESSES=127.0.0.1"]));
    assert!(
        stderr.starts_with(&format!(
            "error: Dockerfile:4:1: `RUN --network=host for a in $ADDRESSES; do if nc -w 3 $a \
             {port} </dev/null | grep -q host-service; then echo \"$a reached\"; else echo \
             \"$a refused\"; fi; done > /result` asks for the host's network, which needs the \
             `network.host` entitlement (`--allow network.host`)\n"
        )),
        "{stderr}"
    );
    assert_eq!(service.served(), 0, "no step ran");
    let (result, _) = built(
        &setup,
        "result",
        &[
            "--build-arg",
            "ADDRESSES=127.0.0.1",
            "--allow",
            "network.host",
        ],
    );
    assert_eq!(result, "127.0.0.1 reached\n");
}

// See: issue 13
#[test]
fn default_network_reaches_the_hosts_own_address() {
    let host = host_address();
    for runtime in RUNTIMES {
        let service = Service::tcp(host);
        let setup = Setup::new(&format!(
            "{}RUN (ip -o -4 addr show tap0 | grep -o 'inet [0-9./]*'; ip route; \
             grep gateway.test /etc/hosts) > /net\n",
            probe(service.addr.port(), "")
        ));
        let addresses = format!("ADDRESSES={host}");
        let mut args = vec![
            "--build-arg",
            addresses.as_str(),
            "--add-host",
            "gateway.test:host-gateway",
        ];
        args.extend_from_slice(runtime);
        let (result, _) = built(&setup, "result", &args);
        assert_eq!(result, format!("{host} reached\n"), "{runtime:?}");
        assert!(service.served() > 0);
        // A private interface behind the stack; `host-gateway` is the same address.
        assert_eq!(
            fs::read_to_string(setup.path("rootfs/net")).unwrap(),
            format!(
                "inet 10.0.2.100/24\ndefault via 10.0.2.2 dev tap0 \n\
                 10.0.2.0/24 dev tap0 scope link  src 10.0.2.100 \n{host}\tgateway.test\n"
            ),
            "{runtime:?}"
        );
    }
}

/// Runs `command` in a private mount namespace whose `/etc/resolv.conf` is `resolv`.
fn with_resolv_conf(resolv: &std::path::Path, command: &Command) -> Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(resolv)
        .arg(command.get_program())
        .args(command.get_args())
        .output()
        .expect("unshare (Debian package `util-linux`)")
}

// See: issue 13
#[test]
fn default_network_resolves_names_through_the_hosts_resolver() {
    // A resolver on the host's loopback, as systemd-resolved's is: the step cannot reach
    // it, the stack's forwarder does.
    let resolver = Ipv4Addr::new(127, 53, 13, 7);
    let dns = Service::dns(resolver);
    let setup = Setup::new(
        "FROM busybox:test\n\
         RUN cat /etc/resolv.conf > /resolv; nslookup probe.mkimage.test > /lookup\n",
    );
    let resolv = setup.path("resolv.conf");
    fs::write(
        &resolv,
        format!("nameserver {resolver}\nsearch mkimage.test\noptions ndots:2\n"),
    )
    .unwrap();
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    for runtime in RUNTIMES {
        let mut args = vec!["--no-cache", "-o", &local];
        args.extend_from_slice(runtime);
        ok(&with_resolv_conf(&resolv, &setup.command(&args)));
        let read = |name: &str| fs::read_to_string(rootfs.join(name)).unwrap();
        assert_eq!(
            read("resolv"),
            "nameserver 10.0.2.3\nsearch mkimage.test\noptions ndots:2\n",
            "{runtime:?}"
        );
        assert_eq!(
            read("lookup"),
            "Server:\t\t10.0.2.3\nAddress:\t10.0.2.3:53\n\n\
             Non-authoritative answer:\nName:\tprobe.mkimage.test\nAddress: 192.0.2.123\n\n\
             Non-authoritative answer:\n\n",
            "{runtime:?}"
        );
    }
    assert!(dns.served() > 0);
}

// See: issue 13
#[test]
fn default_network_names_the_missing_slirp4netns() {
    let setup = Setup::new("FROM busybox:test\nRUN echo ran > /ran\n");
    let empty = setup.path("empty-path");
    fs::create_dir(&empty).unwrap();
    let output = setup
        .command(&["--progress", "plain"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    let stderr = failed(&output);
    assert!(
        stderr.contains(
            "a `RUN` step on the default network needs `slirp4netns` (Debian package \
             `slirp4netns`) for its private network"
        ),
        "{stderr}"
    );
    // Without a network the step needs no stack.
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    let output = setup
        .command(&["--network", "none", "-o", &local])
        .env("PATH", &empty)
        .output()
        .unwrap();
    ok(&output);
    assert_eq!(fs::read_to_string(rootfs.join("ran")).unwrap(), "ran\n");
}

/// Builds a one-`RUN` Dockerfile with `slirp4netns` replaced by the shell script `fake`;
/// the error, and how long the build took.
fn build_with_stack(fake: &str) -> (String, Duration) {
    let setup = Setup::new("FROM busybox:test\nRUN echo ran > /ran\n");
    let bin = setup.path("fake-bin");
    fs::create_dir(&bin).unwrap();
    let program = bin.join("slirp4netns");
    fs::write(&program, format!("#!/bin/sh\n{fake}\n")).unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let start = std::time::Instant::now();
    let output = setup.command(&[]).env("PATH", &bin).output().unwrap();
    (failed(&output), start.elapsed())
}

// See: issue 13
#[test]
fn a_failing_stack_is_named_with_its_error_and_never_waited_on_forever() {
    let (stderr, _) = build_with_stack("echo 'cannot open tap0: no such device' >&2; exit 3");
    assert!(
        stderr.contains(
            "slirp4netns` failed to set up the step's network (exit status: 3): cannot open \
             tap0: no such device"
        ),
        "{stderr}"
    );
    // A stack that answers something other than ready and stays: killed, not waited for.
    let (stderr, took) = build_with_stack("printf 0 >&3; echo confused >&2; exec /bin/sleep 1000");
    assert!(
        stderr.contains(
            "slirp4netns` failed to set up the step's network (signal: 9 (SIGKILL)): confused"
        ),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}
