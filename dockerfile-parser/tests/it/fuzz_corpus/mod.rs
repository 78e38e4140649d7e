//! The committed corpus of the fuzz target in `dockerfile-parser/fuzz/`, replayed through
//! the function the target calls: an input that once crashed the target, or any other
//! corpus input, fails here if the bug comes back.

use mkimage_dockerfile::fuzzing;

mod replay;

use replay::replay;

#[test]
fn parse_corpus_passes() {
    replay("parse", fuzzing::parse);
}
