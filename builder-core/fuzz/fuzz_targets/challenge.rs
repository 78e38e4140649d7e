//! A registry's `WWW-Authenticate` headers: see `mkimage_core::fuzzing::auth_challenge`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_core::fuzzing::auth_challenge(data));
