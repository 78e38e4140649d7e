//! Layer blobs (gzip, zstd or plain tar) unpacked one over the other: see `mkimage_core::fuzzing::unpack_layers`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mkimage_core::fuzzing::unpack_layers(data));
