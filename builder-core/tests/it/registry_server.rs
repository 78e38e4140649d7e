//! A real registry for tests: Debian's `docker-registry` (the distribution project's
//! reference server) on 127.0.0.1 with a free port and a temp storage directory, killed
//! and wiped on drop. Shared by the core's and the CLI's tests.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The registry binary (Debian package `docker-registry`).
const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry; dropping it kills the process and removes its storage.
pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

/// How the registry authenticates clients.
pub enum Auth<'a> {
    /// Anyone may pull and push.
    Anonymous,
    /// HTTP Basic with one user, checked against an htpasswd file.
    Htpasswd { user: &'a str, password: &'a str },
}

impl Registry {
    /// Starts an anonymous registry.
    pub fn start() -> Registry {
        Registry::start_with(Auth::Anonymous)
    }

    /// Starts a registry with `auth`.
    pub fn start_with(auth: Auth<'_>) -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "`{REGISTRY}` is missing: install the Debian package `docker-registry`"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth_section = match auth {
            Auth::Anonymous => String::new(),
            Auth::Htpasswd { user, password } => {
                let output = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("run htpasswd: install the Debian package `apache2-utils`");
                assert!(output.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, output.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: mkimage-test\n    path: {}\n",
                    file.display()
                )
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n{auth_section}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut registry = Registry {
            child: None,
            dir,
            port,
        };
        registry.spawn();
        registry
    }

    /// Starts the process and waits until it answers.
    fn spawn(&mut self) {
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.get("/v2/").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not start on port {}", self.port);
    }

    /// Kills the registry (its storage stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<name>`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// Where the registry keeps the blob with `hex` (its SHA-256).
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The status line of a plain `GET path`, or `None` when nothing answers.
    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        reply.lines().next().map(str::to_owned)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs skopeo with `args`; panics with its stderr when it fails.
pub fn skopeo(args: &[&str]) -> Output {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo: install the Debian package `skopeo`");
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The manifest digest `skopeo inspect` reports for `docker://REFERENCE` (plain HTTP).
pub fn skopeo_digest(reference: &str) -> String {
    let output = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]);
    let digest = sha256_hex(&output.stdout);
    format!("sha256:{digest}")
}

/// The SHA-256 of `bytes` in hex, computed by `sha256sum` (an independent tool).
fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}
