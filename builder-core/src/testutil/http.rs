//! A static file server on 127.0.0.1 for tests of downloads.

use std::io::{self, BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `python3 -m http.server` serving a directory on 127.0.0.1 at a free port; stops on
/// drop. It sends `Last-Modified` from each file's mtime.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    /// Starts serving `dir`.
    ///
    /// # Errors
    ///
    /// When `python3` cannot be started (the error names the Debian package) or does not
    /// say which port it listens on.
    pub fn start(dir: &Path) -> io::Result<HttpServer> {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("`python3` is needed ({e}): install the Debian package `python3`"),
                )
            })?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.as_mut() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok());
        let mut server = HttpServer { child, port: 0 };
        // On an error, dropping `server` stops the child.
        server.port =
            port.ok_or_else(|| io::Error::other(format!("unexpected http.server banner: {line}")))?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `path` (relative, as written) below the served directory.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Best effort: the child may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
