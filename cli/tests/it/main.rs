//! Integration tests of the `mkimage` binary, one module per subcommand.

mod archive;
mod parse;
mod store;
