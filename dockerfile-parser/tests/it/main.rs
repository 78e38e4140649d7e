//! Integration tests of the Dockerfile frontend, one module per area.

mod fixtures;
mod limits;
mod parse;
mod plan;
