//! A real registry for tests: Debian's `docker-registry` (the distribution project's
//! reference server) on 127.0.0.1 with a free port and a temp storage directory, killed
//! and wiped on drop. Shared by the core's and the CLI's tests.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mkimage_core::testutil::run_checked;

/// The registry binary (Debian package `docker-registry`).
const REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry; dropping it kills the process and removes its storage.
pub(crate) struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

/// How the registry authenticates clients.
pub(crate) enum Auth<'a> {
    /// Anyone may pull and push.
    Anonymous,
    /// HTTP Basic with one user, checked against an htpasswd file.
    Htpasswd { user: &'a str, password: &'a str },
}

impl Registry {
    /// Starts an anonymous registry.
    pub(crate) fn start() -> Registry {
        Registry::start_with(Auth::Anonymous)
    }

    /// Starts a registry with `auth`.
    pub(crate) fn start_with(auth: Auth<'_>) -> Registry {
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
            "version: 0.1\nlog:\n  level: error\n\
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
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("access.log"))
            .unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log)
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
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<name>`.
    pub(crate) fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// The registry's access log: a line per request.
    pub(crate) fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap()
    }

    /// The digests of the blobs the registry sent (`GET` answered 200), from its access
    /// log, in order.
    pub(crate) fn blob_gets(&self) -> Vec<String> {
        self.access_log()
            .lines()
            .filter_map(|line| line.split_once("\"GET /v2/")?.1.split_once(' '))
            .filter(|(_, rest)| {
                rest.split_once("\" ")
                    .is_some_and(|(_, s)| s.starts_with("200 "))
            })
            .filter_map(|(path, _)| Some(path.split_once("/blobs/")?.1.to_owned()))
            .collect()
    }

    /// Where the registry keeps the blob with `hex` (its SHA-256).
    pub(crate) fn blob_file(&self, hex: &str) -> PathBuf {
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
pub(crate) fn skopeo(args: &[&str]) -> Output {
    run_checked(Command::new("skopeo").args(args), "skopeo").unwrap()
}

/// The manifest digest `skopeo inspect` reports for `docker://REFERENCE` (plain HTTP).
pub(crate) fn skopeo_digest(reference: &str) -> String {
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

/// A Bearer-token front for a registry: a token service at `/token` that issues tokens
/// for one user's Basic credentials (`GET`), or for the user's password used as an OAuth
/// refresh token (`POST`, form-encoded, as docker sends identity tokens), and a proxy that answers requests without a valid
/// token with a `WWW-Authenticate: Bearer` challenge and forwards the others to the
/// registry. It exercises challenge → token → retry as Docker Hub does.
pub(crate) struct TokenProxy {
    server: Server,
    /// Tokens issued so far.
    pub issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenProxy {
    /// Starts the front for the registry on `upstream` (`127.0.0.1:port`).
    pub(crate) fn start(upstream: String, user: &str, password: &str) -> TokenProxy {
        use base64::Engine as _;
        let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let refresh = password.to_owned();
        let counter = issued.clone();
        let server = Server::start(move |port| {
            move |stream| {
                let _ = serve(stream, port, &upstream, &basic, &refresh, &counter);
            }
        });
        TokenProxy { server, issued }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        self.server.host()
    }
}

/// A TCP server on 127.0.0.1 at a free port that hands each connection to its handler
/// in a thread of its own; it stops accepting when dropped.
struct Server {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    /// Starts a server whose handler `make` makes, given the port.
    fn start<F>(make: impl FnOnce(u16) -> F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(make(port));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handle = handle.clone();
                std::thread::spawn(move || handle(stream));
            }
        });
        Server { port, stop }
    }

    /// `127.0.0.1:<port>`.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The head of a request (up to the blank line) read from `client`; `None` when the
/// connection closes first.
fn read_head(client: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// Answers one request of a [`TokenProxy`] connection, then closes it.
fn serve(
    mut client: TcpStream,
    port: u16,
    upstream: &str,
    basic: &str,
    refresh: &str,
    issued: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    let Some(text) = read_head(&mut client)? else {
        return Ok(());
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let authorization = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    if request_line.starts_with("POST /token") {
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        client.read_exact(&mut body)?;
        // The fields checked need no percent-decoding (the scope is only checked to be one).
        let body = String::from_utf8_lossy(&body).into_owned();
        let form: Vec<(&str, &str)> = body.split('&').filter_map(|p| p.split_once('=')).collect();
        let has = |key: &str, value: &str| form.iter().any(|(k, v)| *k == key && *v == value);
        let ok = has("grant_type", "refresh_token")
            && has("refresh_token", refresh)
            && has("client_id", "mkimage")
            && has("service", "mkimage-test")
            // A login asks for no scope; a pull or push for a repository's.
            && form
                .iter()
                .all(|(k, v)| *k != "scope" || v.starts_with("repository"));
        return issue_token(&mut client, ok, "access_token", issued);
    }
    if path.starts_with("/token") {
        let ok = authorization == Some(basic) && path.contains("service=mkimage-test");
        return issue_token(&mut client, ok, "token", issued);
    }
    let valid = authorization.is_some_and(|a| a.starts_with("Bearer token-"));
    if !valid {
        let name = path
            .strip_prefix("/v2/")
            .and_then(|rest| rest.split("/manifests/").next())
            .and_then(|rest| rest.split("/blobs/").next())
            .filter(|name| !name.is_empty() && *name != path);
        let scope = name
            .map(|n| format!(",scope=\"repository:{n}:pull\""))
            .unwrap_or_default();
        return write!(
            client,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"mkimage-test\"{scope}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let mut server = TcpStream::connect(upstream)?;
    let mut forwarded = format!("{request_line}\r\n");
    for (key, value) in &headers {
        if key != "connection" && key != "authorization" {
            forwarded.push_str(&format!("{key}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    server.write_all(forwarded.as_bytes())?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}

/// Answers a token request: 401 unless `ok`, else a new token in the field `field`.
fn issue_token(
    client: &mut TcpStream,
    ok: bool,
    field: &str,
    issued: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    if !ok {
        return client.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let body = format!(r#"{{"{field}":"token-{n}","expires_in":300}}"#);
    write!(
        client,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What a [`FlakyProxy`] does to the first requests it is asked to spoil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answers `503 Service Unavailable`.
    Unavailable,
    /// Resets the connection (closes it with the request unread, so the kernel sends RST).
    Reset,
    /// Accepts the request and never answers.
    Silent,
}

/// What a [`FlakyProxy`] does to the first download of each blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Nothing: the blob goes through.
    None,
    /// Sends the headers and 64 KiB of the body, then closes the connection.
    Close,
    /// Sends the headers and 64 KiB of the body, then nothing more, the connection open.
    Stall,
}

/// A proxy in front of a registry that spoils its first requests (as many as asked, of
/// those `spoiled` picks by request line) with a [`Fault`], cuts the first download of
/// every blob as [`Cut`] says, and passes everything else through; it counts the
/// requests and the `Range` requests it sees.
pub(crate) struct FlakyProxy {
    server: Server,
    /// Requests that asked for a range of a blob.
    pub ranges: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Every request received.
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyProxy {
    /// Starts the proxy for the registry on `upstream` (`127.0.0.1:port`), closing the
    /// first download of every blob midway.
    pub(crate) fn start(upstream: String) -> FlakyProxy {
        FlakyProxy::failing(upstream, 0)
    }

    /// [`FlakyProxy::start`], answering the first `unavailable` requests with 503.
    pub(crate) fn failing(upstream: String, unavailable: usize) -> FlakyProxy {
        FlakyProxy::spoiling(
            upstream,
            Fault::Unavailable,
            unavailable,
            |_| true,
            Cut::Close,
        )
    }

    /// Starts the proxy: the first `count` requests whose request line `spoiled` picks
    /// get `fault`, the first download of each blob gets `cut`.
    pub(crate) fn spoiling(
        upstream: String,
        fault: Fault,
        count: usize,
        spoiled: fn(&str) -> bool,
        cut: Cut,
    ) -> FlakyProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let ranges = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let left = Arc::new(Mutex::new(count));
        let cut_once: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let (ranges2, requests2) = (ranges.clone(), requests.clone());
        let server = Server::start(move |_| {
            move |mut client: TcpStream| {
                requests2.fetch_add(1, Ordering::SeqCst);
                let Ok(Some(line)) = peek_request_line(&client) else {
                    return;
                };
                let spoil = spoiled(&line) && {
                    let mut left = left.lock().unwrap();
                    let spoil = *left > 0;
                    *left = left.saturating_sub(1);
                    spoil
                };
                if spoil {
                    let _ = inflict(client, fault);
                    return;
                }
                let cut = if cut_once.lock().unwrap().insert(line) {
                    cut
                } else {
                    Cut::None
                };
                let _ = relay(&mut client, &upstream, &ranges2, cut);
            }
        });
        FlakyProxy {
            server,
            ranges,
            requests,
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        self.server.host()
    }
}

/// A server on 127.0.0.1 that accepts every connection and never answers.
pub(crate) struct SilentServer {
    server: Server,
    /// Connections accepted.
    pub connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentServer {
    /// Starts the server.
    pub(crate) fn start() -> SilentServer {
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let server = Server::start(move |_| {
            move |client: TcpStream| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = inflict(client, Fault::Silent);
            }
        });
        SilentServer {
            server,
            connections,
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        self.server.host()
    }
}

/// The request line of the request waiting on `client`, left unread; `None` when the
/// connection closes first.
fn peek_request_line(client: &TcpStream) -> std::io::Result<Option<String>> {
    let mut buffer = [0u8; 8192];
    loop {
        let n = client.peek(&mut buffer)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(end) = buffer[..n].windows(2).position(|w| w == b"\r\n") {
            return Ok(Some(String::from_utf8_lossy(&buffer[..end]).into_owned()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Does `fault` to the request waiting on `client`.
fn inflict(mut client: TcpStream, fault: Fault) -> std::io::Result<()> {
    match fault {
        // Closed with the request unread: the kernel resets the connection.
        Fault::Reset => Ok(()),
        Fault::Unavailable => {
            read_request(&mut client)?;
            client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        }
        Fault::Silent => {
            // Holds the connection until the client gives up.
            let mut sink = Vec::new();
            client.read_to_end(&mut sink).map(drop)
        }
    }
}

/// Reads the request waiting on `client`: its head and its body (`Content-Length`);
/// `None` when the connection closes first.
fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let Some(head) = read_head(client)? else {
        return Ok(None);
    };
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

/// Relays one request of a [`FlakyProxy`] connection, cutting a blob's body as `cut`
/// says.
fn relay(
    client: &mut TcpStream,
    upstream: &str,
    ranges: &std::sync::atomic::AtomicUsize,
    cut: Cut,
) -> std::io::Result<()> {
    let Some((text, body)) = read_request(client)? else {
        return Ok(());
    };
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    let is_blob_get = request_line.starts_with("GET ") && request_line.contains("/blobs/sha256:");
    let has_range = text.to_ascii_lowercase().contains("\r\nrange:");
    if is_blob_get && has_range {
        ranges.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let mut forwarded = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(forwarded.as_bytes())?;
    server.write_all(&body)?;
    let mut reply = Vec::new();
    server.read_to_end(&mut reply)?;
    let body_start = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(reply.len(), |p| p + 4);
    let cut = if is_blob_get && !has_range {
        cut
    } else {
        Cut::None
    };
    if cut != Cut::None && reply.len() > body_start + 64 * 1024 {
        // Part of a blob, then the connection drops or stalls.
        client.write_all(&reply[..body_start + 64 * 1024])?;
        if cut == Cut::Stall {
            let mut sink = Vec::new();
            client.read_to_end(&mut sink)?;
        }
        return Ok(());
    }
    client.write_all(&reply)
}

/// A server on 127.0.0.1 that answers each request (one per connection) with what
/// `answer` makes of its request line and the server's port.
pub(crate) struct ScriptedServer {
    server: Server,
}

impl ScriptedServer {
    /// Starts the server.
    pub(crate) fn start(answer: fn(&str, u16) -> Vec<u8>) -> ScriptedServer {
        let server = Server::start(move |port| {
            move |mut client: TcpStream| {
                if let Ok(Some((head, _))) = read_request(&mut client) {
                    let line = head.lines().next().unwrap_or_default();
                    let _ = client.write_all(&answer(line, port));
                }
            }
        });
        ScriptedServer { server }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn host(&self) -> String {
        self.server.host()
    }
}
