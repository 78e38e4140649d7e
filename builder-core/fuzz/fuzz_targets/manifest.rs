//! Manifests, indexes and image configs: see `mkimage_core::fuzzing::manifest`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_core::fuzzing::manifest(data));
