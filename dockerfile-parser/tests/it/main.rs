//! Integration tests of the Dockerfile frontend, one module per area.

mod fixtures;
mod parse;
mod plan;
