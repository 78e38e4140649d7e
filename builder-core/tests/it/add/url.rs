//! `http(s)://` sources: downloaded from servers the tests start on 127.0.0.1.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use mkimage_core::fetch::{Checksum, FetchError, download};
use mkimage_core::layer::{Content, EntryKind, LayerPath};
use mkimage_core::net::{Http, NetOptions};
use mkimage_core::testutil::{HttpServer, noise};
use mkimage_core::{Events, NoEvents, RequestRef, Retry, TaskRef};

use crate::layer::run;
use crate::registry_server::SilentServer;

/// Answers one request on 127.0.0.1 with `response` as written, in a thread.
fn serve_once(response: &'static [u8]) -> String {
    serve_each(response, 1)
}

/// Answers `times` requests on 127.0.0.1 with `response` as written, one connection
/// each, in a thread.
fn serve_each(response: &'static [u8], times: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for _ in 0..times {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            stream.write_all(response).unwrap();
        }
    });
    format!("http://127.0.0.1:{port}/plain/file.txt")
}

/// HTTP that retries once, after a short pause.
fn fast_http() -> Http {
    Http::new(NetOptions {
        retries: 1,
        backoff: Duration::from_millis(10),
        ..NetOptions::default()
    })
}

fn served_file(dir: &Path, name: &str, content: &[u8], mtime: u64) {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
        .unwrap();
}

#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

impl Events for Recorded {
    fn task_started(&self, task: &TaskRef, total: Option<u64>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("start {task} {total:?}"));
    }
    fn task_progress(&self, _task: &TaskRef, done: u64) {
        self.0.lock().unwrap().push(format!("done {done}"));
    }
    fn task_finished(&self, task: &TaskRef) {
        self.0.lock().unwrap().push(format!("finish {task}"));
    }
}

#[test]
fn downloads_with_name_digest_mode_and_last_modified() {
    let served = tempfile::tempdir().unwrap();
    let content = noise(300_000, 0x2545_f491_4f6c_dd1d);
    served_file(served.path(), "app 1.0.tar.gz", &content, 1_600_000_000);
    let server = HttpServer::start(served.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let events = Recorded::default();
    let url = server.url("dl/../app%201.0.tar.gz?x=1");

    let got = download(&url, scratch.path(), None, &Http::default(), &events).unwrap();
    assert_eq!(got.file_name, "app 1.0.tar.gz");
    assert_eq!(fs::read(&got.path).unwrap(), content);
    assert!(got.path.starts_with(scratch.path()));
    assert_eq!(got.size, content.len() as u64);
    assert_eq!(got.digest.to_string(), crate::layer::sha256sum(&content));
    assert_eq!(got.last_modified, Some(1_600_000_000));

    let entry = got.entry(LayerPath::new("/srv/app.tgz").unwrap(), 42);
    assert_eq!(
        (entry.path.to_string(), entry.mode, entry.mtime, entry.uid),
        ("srv/app.tgz".to_owned(), 0o600, 1_600_000_000, 0)
    );
    assert_eq!(entry.kind, EntryKind::File(Content::Host(got.path.clone())));

    let events = events.0.into_inner().unwrap();
    assert_eq!(
        events.first().unwrap(),
        &format!("start download {url} Some(300000)")
    );
    assert_eq!(events[events.len() - 2], "done 300000");
    assert_eq!(events.last().unwrap(), &format!("finish download {url}"));
}

#[test]
fn checksum_is_verified_in_its_algorithm() {
    let served = tempfile::tempdir().unwrap();
    let content = b"release payload\n";
    served_file(served.path(), "payload", content, 1_000);
    let server = HttpServer::start(served.path()).unwrap();
    let url = server.url("payload");
    let scratch = tempfile::tempdir().unwrap();

    for (tool, algorithm) in [("sha256sum", "sha256"), ("sha512sum", "sha512")] {
        let out = String::from_utf8(run(tool, "coreutils", &["-"], content)).unwrap();
        let hex = out.split_whitespace().next().unwrap();
        let checksum: Checksum = format!("{algorithm}:{hex}").parse().unwrap();
        let got = download(
            &url,
            scratch.path(),
            Some(&checksum),
            &Http::default(),
            &NoEvents,
        )
        .unwrap();
        assert_eq!(fs::read(&got.path).unwrap(), content);
    }

    let wrong: Checksum = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let err = download(
        &url,
        scratch.path(),
        Some(&wrong),
        &Http::default(),
        &NoEvents,
    )
    .unwrap_err();
    let actual = crate::layer::sha256sum(content);
    assert_eq!(
        err.to_string(),
        format!(
            "`{url}` has digest `{actual}`, but `--checksum` expects `sha256:{}`",
            "0".repeat(64)
        )
    );
    assert_eq!(
        fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "no file left"
    );
}

#[test]
fn a_missing_file_or_server_fails() {
    let served = tempfile::tempdir().unwrap();
    let server = HttpServer::start(served.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let url = server.url("nothing-here.tar");
    let err = download(&url, scratch.path(), None, &fast_http(), &NoEvents).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{url}` answered with HTTP status 404")
    );

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    let err = download(&url, scratch.path(), None, &fast_http(), &NoEvents).unwrap_err();
    assert!(matches!(err, FetchError::Net(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("download of `{url}` failed after 2 attempts")
    );
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn without_last_modified_the_fallback_mtime_is_used() {
    let url =
        serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n");
    let scratch = tempfile::tempdir().unwrap();
    let got = download(&url, scratch.path(), None, &fast_http(), &NoEvents).unwrap();
    assert_eq!(got.last_modified, None);
    assert_eq!(got.file_name, "file.txt");
    assert_eq!(got.entry(LayerPath::new("f").unwrap(), 1_234).mtime, 1_234);
}

#[test]
fn a_body_cut_short_fails() {
    let url = serve_each(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly this",
        2,
    );
    let scratch = tempfile::tempdir().unwrap();
    let err = download(&url, scratch.path(), None, &fast_http(), &NoEvents).unwrap_err();
    assert_eq!(
        crate::error_chain(&err),
        format!(
            "download of `{url}` failed after 2 attempts\nthe connection failed\nPeer disconnected"
        )
    );
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
}

/// HTTP whose timeouts are 1s, retrying once after a short pause.
fn impatient_http() -> Http {
    Http::new(NetOptions {
        retries: 1,
        backoff: Duration::from_millis(10),
        ..NetOptions::default().with_timeout(Duration::from_secs(1))
    })
}

/// Records the retries reported.
#[derive(Default)]
struct Retries(Mutex<Vec<String>>);

impl Events for Retries {
    fn request_retrying(&self, request: &RequestRef, retry: &Retry) {
        let line = format!(
            "retry {}/{} of {request}: {}",
            retry.attempt, retry.attempts, retry.reason
        );
        self.0.lock().unwrap().push(line);
    }
}

// See: issue 13
#[test]
fn a_server_that_never_answers_fails_after_the_first_byte_timeout() {
    let silent = SilentServer::start();
    let url = format!("http://{}/app.tar", silent.host());
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = download(&url, scratch.path(), None, &impatient_http(), &NoEvents).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    assert_eq!(
        crate::error_chain(&err),
        format!(
            "download of `{url}` failed after 2 attempts\n\
             no answer within the first-byte timeout of 1s"
        )
    );
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
}

// See: issue 13
#[test]
fn a_download_that_stalls_is_made_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file.txt", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n";
        for body in ["hello", "hello world\n"] {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(format!("{head}{body}").as_bytes())
                .unwrap();
            if body.len() < 12 {
                // Half the body, then nothing until the client gives up.
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    });
    let scratch = tempfile::tempdir().unwrap();
    let retries = Retries::default();
    let got = download(&url, scratch.path(), None, &impatient_http(), &retries).unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), b"hello world\n");
    assert_eq!(got.size, 12);
    assert_eq!(
        retries.0.into_inner().unwrap(),
        [format!(
            "retry 2/2 of download of `{url}`: nothing sent or received for the idle timeout of 1s"
        )]
    );
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 1);
}
