//! Integration tests of the `mkimage` binary, one module per subcommand.

mod archive;
mod build;
mod parse;
mod store;
