//! The networks of `RUN` steps in `mkimage build`, against real listeners on the host: a
//! service on the host's loopback holds a secret, and the tests assert who reached it.

use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::run::{Setup, ok};

/// What the host's listeners send: found in a build's output or files, it shows that a
/// step reached the listener.
const SECRET: &str = "host-service-2f6a91c4: only the host may read this";

/// A TCP service on the host, on a free port of `ip`, that sends [`SECRET`] to each
/// connection and counts them; dropping it stops it.
struct Listener {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(ip: IpAddr) -> Listener {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            let _ = stream.set_nonblocking(false);
                            let _ = writeln!(stream, "{SECRET}");
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(error) => panic!("accept on {addr}: {error}"),
                    }
                }
            })
        };
        Listener {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A `RUN` that tries each of `addresses` on `port` with busybox `nc` and writes
/// `ADDRESS reached` or `ADDRESS refused` per address to `/result`.
fn probe(addresses: &[&str], port: u16, flags: &str) -> String {
    format!(
        "FROM busybox:test\n\
         RUN {flags} for a in {}; do \
           if nc -w 3 $a {port} </dev/null | grep -q host-service; then echo \"$a reached\"; \
           else echo \"$a refused\"; fi; \
         done > /result\n",
        addresses.join(" ")
    )
}

/// Builds `setup` with `args` into `rootfs/` and returns its `/result` and the progress.
fn result(setup: &Setup, args: &[&str]) -> (String, String) {
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    let mut all = vec!["--progress", "plain", "-o", &local];
    all.extend_from_slice(args);
    let (_, progress) = ok(&setup.build(&all));
    (fs::read_to_string(rootfs.join("result")).unwrap(), progress)
}

// See: issue 13
#[test]
fn default_network_reaches_the_hosts_loopback() {
    let service = Listener::start(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let setup = Setup::new(&probe(&["127.0.0.1"], service.addr.port(), ""));
    let (result, _) = result(&setup, &[]);
    // Today the default network is the host's.
    assert_eq!(result, "127.0.0.1 reached\n");
    assert!(service.accepted() > 0);
}
