//! Image references: see `mkimage_core::fuzzing::reference`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_core::fuzzing::reference(data));
