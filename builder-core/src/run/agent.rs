//! The socket a `RUN --mount=type=ssh` step sees: a proxy to the build's SSH agent.
//!
//! The step's socket gets the mount's mode and owner, which must not be set on the
//! agent's own socket (it belongs to the user's session), so each step gets a socket of
//! its own, in a temp directory, whose connections are forwarded to the agent, as
//! BuildKit forwards them. The proxy stops when dropped; connections still open end with
//! the step's processes.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tempfile::TempDir;

use super::RunError;

/// A socket forwarding every connection to an SSH agent's socket.
pub(super) struct AgentProxy {
    /// Holds the socket; removed on drop. In the system's temp directory, not the
    /// store: a socket path must fit in 108 bytes.
    dir: TempDir,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl AgentProxy {
    /// Listens on a new socket forwarding to `agent`.
    ///
    /// # Errors
    ///
    /// [`RunError::Prepare`] when the socket cannot be made.
    pub(super) fn start(agent: &Path) -> Result<AgentProxy, RunError> {
        let prepare = |path: &Path| {
            let path = path.to_owned();
            move |source| RunError::Prepare { path, source }
        };
        let temp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix("mkimage-ssh-")
            .tempdir_in(&temp)
            .map_err(prepare(&temp))?;
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).map_err(prepare(&path))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let stop = Arc::clone(&stop);
            let agent = agent.to_owned();
            std::thread::spawn(move || serve(&listener, &agent, &stop))
        };
        Ok(AgentProxy {
            dir,
            stop,
            accept: Some(accept),
        })
    }

    /// The socket to bind into the sandbox.
    pub(super) fn path(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }
}

impl Drop for AgentProxy {
    /// Stops accepting: a connection of its own wakes the accept loop to see the flag.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(self.path());
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Accepts connections until `stop`, each forwarded to a new connection to `agent`.
fn serve(listener: &UnixListener, agent: &Path, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        // An agent that is gone: the client sees its connection closed.
        let Ok(upstream) = UnixStream::connect(agent) else {
            continue;
        };
        let _ = forward(client, upstream);
    }
}

/// Copies bytes both ways between `a` and `b` on two threads; each direction shuts the
/// other side's writing down when its reader ends.
fn forward(a: UnixStream, b: UnixStream) -> io::Result<()> {
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    std::thread::spawn(move || pipe(a, b));
    std::thread::spawn(move || pipe(b2, a2));
    Ok(())
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};

    use super::*;

    #[test]
    fn connections_are_forwarded_both_ways() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let agent = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&agent)?;
        let agent_side = std::thread::spawn(move || -> io::Result<String> {
            let (stream, _) = listener.accept()?;
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line)?;
            (&stream).write_all(b"pong\n")?;
            Ok(line)
        });
        let proxy = AgentProxy::start(&agent)?;
        let mut client = UnixStream::connect(proxy.path())?;
        client.write_all(b"ping\n")?;
        let mut reply = String::new();
        BufReader::new(&client).read_line(&mut reply)?;
        assert_eq!(reply, "pong\n");
        assert_eq!(agent_side.join().expect("agent thread")?, "ping\n");
        let path = proxy.path();
        drop(proxy);
        assert!(!path.exists(), "the socket is removed with the proxy");
        Ok(())
    }
}
