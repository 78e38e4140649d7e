//! Integration tests of the Dockerfile frontend, one module per area.

mod deps;
mod fixtures;
mod fuzz_corpus;
mod limits;
mod parse;
mod plan;
