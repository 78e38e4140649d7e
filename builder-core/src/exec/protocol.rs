//! The messages the parent and the sandbox's processes exchange over their socket.
//!
//! The socket is a `SOCK_SEQPACKET` pair: each message is one packet of
//! [`Message::SIZE`] bytes, so no framing is needed and a read never returns half a
//! message. Encoding and decoding allocate nothing: the child side runs between `clone`
//! and `execve`, where allocating is not allowed (see the design note in `mod.rs`).
//!
//! The order, for one run:
//!
//! ```text
//!   parent                               init (pid 1)                 command process
//!   clone ───────────────────────────────▶ waits for Start
//!   maps uids/gids (rootless only)
//!   Start ───────────────────────────────▶ runs the setup steps
//!                                 ◀─────── SetupFailed { step, errno }, exits   (on error)
//!                                          forks ────────────────────▶ runs its steps, execs
//!                                 ◀────────────────────────────────── SetupFailed / ExecFailed
//!                                          reaps, forwards signals        (on error, exits 127)
//!                                 ◀─────── Exited { status }, exits
//! ```
//!
//! The parent treats end-of-file on the socket as "init is gone": whatever it received
//! before that decides the result. `Start` is the only message the parent sends; init
//! exits at once when the socket closes before it arrives (the parent died).

use std::io;

/// One message between the parent and the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// Parent → init: the user namespace is mapped (or none is used); start setting up.
    Start,
    /// Init or the command process → parent: setup step `step` failed with `errno`.
    SetupFailed {
        /// Index of the step in the setup program.
        step: u32,
        /// The error number.
        errno: i32,
    },
    /// Command process → parent: no candidate path of the program could be executed; the
    /// last meaningful `errno`.
    ExecFailed {
        /// The error number.
        errno: i32,
    },
    /// Init → parent: the command process ended with this wait status (as `waitpid` gives
    /// it); init exits right after.
    Exited {
        /// The raw wait status.
        status: i32,
    },
}

const START: u32 = 1;
const SETUP_FAILED: u32 = 2;
const EXEC_FAILED: u32 = 3;
const EXITED: u32 = 4;

impl Message {
    /// The size of an encoded message.
    pub(crate) const SIZE: usize = 12;

    /// The message as bytes: tag, then two 32-bit fields, little-endian.
    pub(crate) fn encode(self) -> [u8; Self::SIZE] {
        let (tag, a, b) = match self {
            Message::Start => (START, 0, 0),
            Message::SetupFailed { step, errno } => (SETUP_FAILED, step, errno),
            Message::ExecFailed { errno } => (EXEC_FAILED, 0, errno),
            Message::Exited { status } => (EXITED, 0, status),
        };
        let mut bytes = [0; Self::SIZE];
        bytes[0..4].copy_from_slice(&tag.to_le_bytes());
        bytes[4..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..12].copy_from_slice(&b.to_le_bytes());
        bytes
    }

    /// The message in `bytes`.
    ///
    /// # Errors
    /// A packet of the wrong size or with an unknown tag.
    pub(crate) fn decode(bytes: &[u8]) -> io::Result<Message> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, "malformed sandbox message");
        let bytes: &[u8; Self::SIZE] = bytes.try_into().map_err(|_| invalid())?;
        let field = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        let tag = u32::from_le_bytes(field(0));
        let a = u32::from_le_bytes(field(4));
        let b = i32::from_le_bytes(field(8));
        match tag {
            START => Ok(Message::Start),
            SETUP_FAILED => Ok(Message::SetupFailed { step: a, errno: b }),
            EXEC_FAILED => Ok(Message::ExecFailed { errno: b }),
            EXITED => Ok(Message::Exited { status: b }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Start,
            Message::SetupFailed { step: 7, errno: 2 },
            Message::ExecFailed { errno: 13 },
            Message::Exited { status: -1 },
        ] {
            assert_eq!(Message::decode(&message.encode()).unwrap(), message);
        }
        assert!(Message::decode(&[9; 12]).is_err());
        assert!(Message::decode(&[1; 4]).is_err());
    }
}
