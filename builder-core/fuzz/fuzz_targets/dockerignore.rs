//! A `.dockerignore` and paths matched against it: see `mkimage_core::fuzzing::dockerignore`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_core::fuzzing::dockerignore(data));
