//! The committed corpora of the fuzz targets in `builder-core/fuzz/`, replayed through
//! the functions the targets call: an input that once crashed a target, or any other
//! corpus input, fails here if the bug comes back.

use mkimage_core::fuzzing;

// The replay is the frontend's: see that file for why it is shared this way.
#[path = "../../../dockerfile-parser/tests/it/fuzz_corpus/replay.rs"]
mod replay;

use replay::replay;

#[test]
fn unpack_corpus_passes() {
    replay("unpack", fuzzing::unpack_layers);
}

#[test]
fn dockerignore_corpus_passes() {
    replay("dockerignore", fuzzing::dockerignore);
}

#[test]
fn reference_corpus_passes() {
    replay("reference", fuzzing::reference);
}

#[test]
fn manifest_corpus_passes() {
    replay("manifest", fuzzing::manifest);
}

#[test]
fn challenge_corpus_passes() {
    replay("challenge", fuzzing::auth_challenge);
}
