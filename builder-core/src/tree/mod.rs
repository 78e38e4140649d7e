//! Directory trees in the store that the sandbox's users may own files in (unpacked
//! layers, scratch directories of rootless steps): removing them and measuring what
//! removing them frees.
//!
//! Rootless with subordinate ids, such a tree holds files of ids this process is not,
//! so what it may not read or remove is read or removed in the sandbox's user namespace.

mod remove;
mod size;

pub(crate) use remove::remove_tree;
pub(crate) use size::tree_size;
