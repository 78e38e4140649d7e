//! Parses arbitrary text as a Dockerfile: see `mkimage_dockerfile::fuzzing::parse`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_dockerfile::fuzzing::parse(data));
