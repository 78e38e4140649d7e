//! Integration tests of the Dockerfile frontend, one module per area.

mod parse;
mod plan;
