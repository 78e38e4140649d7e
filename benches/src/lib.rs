//! Shared helpers for mkimage's criterion benchmarks (context generators, fixtures).

#![deny(missing_docs)]
