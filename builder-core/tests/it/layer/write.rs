//! The layer writer: determinism, digests and tar contents checked with real tools.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use mkimage_core::layer::{
    ChunkIndex, Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, LayerWriter,
    Reuse, WrittenLayer, decompress, write_layer,
};

use mkimage_core::testutil::noise;

use super::{run, sha256sum, tar_listing, write_file};

fn p(s: &str) -> LayerPath {
    LayerPath::new(s).expect("a valid test path")
}

/// A varied set of entries: many small files, a few large ones spanning several chunks,
/// a host file, links, devices, whiteouts and an opaque directory.
fn sample_entries(host: &std::path::Path) -> Vec<Entry> {
    write_file(host, "big.bin", &noise(3 * 1024 * 1024 + 17, 7));
    let mut entries = vec![
        Entry::new(p("app"), EntryKind::Dir).with_mtime(1_600_000_000),
        Entry::new(
            p("app/big.bin"),
            EntryKind::File(Content::Host(host.join("big.bin"))),
        )
        .with_mode(0o640)
        .with_owner(1000, 1000),
        Entry::new(p("app/link"), EntryKind::Symlink("big.bin".into())),
        Entry::new(p("app/hard"), EntryKind::HardLink(p("app/big.bin"))),
        Entry::new(p("dev"), EntryKind::Dir),
        Entry::new(p("dev/null"), EntryKind::CharDevice { major: 1, minor: 3 }).with_mode(0o666),
        Entry::new(
            p("dev/loop0"),
            EntryKind::BlockDevice { major: 7, minor: 0 },
        ),
        Entry::new(p("dev/pipe"), EntryKind::Fifo),
        Entry::new(p("etc/motd"), EntryKind::Whiteout),
        Entry::new(p("var/cache"), EntryKind::Opaque),
        Entry::new(p("bin/su"), EntryKind::File(Content::Bytes(b"su".to_vec())))
            .with_mode(0o4755)
            .with_xattr("security.capability", vec![1, 0, 0, 2]),
    ];
    for i in 0..300u64 {
        let len = (i as usize * 997) % 20_000;
        entries.push(
            Entry::new(
                p(&format!("data/d{}/f{i:04}", i % 7)),
                EntryKind::File(Content::Bytes(noise(len, i))),
            )
            .with_mtime(1_700_000_000 + i as i64),
        );
    }
    entries
}

fn write(
    entries: Vec<Entry>,
    compression: Compression,
    threads: usize,
) -> (Vec<u8>, mkimage_core::layer::WrittenLayer) {
    let options = LayerOptions {
        compression,
        source_date_epoch: None,
        threads: Some(threads),
        ..LayerOptions::default()
    };
    write_layer(Vec::new(), entries, &options).expect("write the layer")
}

#[test]
fn same_entries_give_the_same_blob_whatever_order_and_threads() {
    let host = tempfile::tempdir().unwrap();
    let entries = sample_entries(host.path());
    let mut reversed = entries.clone();
    reversed.reverse();
    for compression in [
        Compression::Gzip { level: 6 },
        Compression::Zstd { level: 3 },
    ] {
        let (one, layer_one) = write(entries.clone(), compression, 1);
        let (four, layer_four) = write(reversed.clone(), compression, 4);
        assert!(
            one == four,
            "{compression:?}: blobs differ between 1 and 4 threads"
        );
        assert_eq!(layer_one, layer_four);
        let (two, _) = write(entries.clone(), compression, 2);
        assert!(
            one == two,
            "{compression:?}: blobs differ between 1 and 2 threads"
        );
    }
}

#[test]
fn digests_match_independent_tools() {
    let host = tempfile::tempdir().unwrap();
    let entries = sample_entries(host.path());
    let (tar, plain) = write(entries.clone(), Compression::Uncompressed, 2);
    assert_eq!(plain.diff_id.to_string(), sha256sum(&tar));
    assert_eq!(plain.digest, plain.diff_id);
    assert_eq!(plain.tar_size, tar.len() as u64);

    let (gz, gzip) = write(entries.clone(), Compression::Gzip { level: 6 }, 2);
    assert_eq!(gzip.digest.to_string(), sha256sum(&gz));
    assert_eq!(gzip.size, gz.len() as u64);
    assert_eq!(run("gzip", "gzip", &["-dc"], &gz), tar);
    run("gzip", "gzip", &["-t"], &gz);
    assert_eq!(gzip.diff_id, plain.diff_id);
    assert_eq!(
        gzip.media_type.to_string(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    let mut decoded = Vec::new();
    decompress(&gz[..], None)
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    assert!(decoded == tar, "gzip members decode to the tar");

    let (zst, zstd) = write(entries, Compression::Zstd { level: 3 }, 2);
    let mut decoded = Vec::new();
    decompress(&zst[..], Some(zstd.media_type.as_ref()))
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    assert!(decoded == tar, "zstd frames decode to the tar");
    assert_eq!(zstd.digest.to_string(), sha256sum(&zst));
    assert_eq!(run("zstd", "zstd", &["-dc"], &zst), tar);
    assert_eq!(zstd.diff_id, plain.diff_id);
    assert_eq!(
        zstd.media_type.to_string(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

/// Writes `entries` reusing the chunks of `earlier` (a blob and what it was written as).
fn write_reusing(
    entries: Vec<Entry>,
    compression: Compression,
    earlier: (&[u8], &WrittenLayer),
) -> (Vec<u8>, WrittenLayer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, earlier.0).unwrap();
    let index = earlier
        .1
        .chunks
        .as_ref()
        .expect("a compressed layer has chunks");
    let reuse = Reuse::new(
        earlier.1.digest.clone(),
        std::fs::File::open(&path).unwrap(),
        earlier.0.len() as u64,
        index,
    );
    let options = LayerOptions {
        compression,
        threads: Some(2),
        reuse,
        ..LayerOptions::default()
    };
    write_layer(Vec::new(), entries, &options).expect("write the layer")
}

/// `sample_entries` with one small file in the middle grown by a few bytes.
fn one_file_changed(host: &std::path::Path) -> Vec<Entry> {
    let mut entries = sample_entries(host);
    let changed = entries
        .iter_mut()
        .find(|entry| entry.path.to_string() == "data/d3/f0150")
        .expect("the sample has f0150");
    entry_append(changed, b"changed");
    entries
}

fn entry_append(entry: &mut Entry, extra: &[u8]) {
    match &mut entry.kind {
        EntryKind::File(Content::Bytes(bytes)) => bytes.extend_from_slice(extra),
        _ => panic!("not an in-memory file"),
    }
}

// See: issue 4 (incremental layer assembly).
#[test]
fn one_file_changed_reuses_the_rest_and_gives_the_cold_blob() {
    let host = tempfile::tempdir().unwrap();
    for compression in [
        Compression::Gzip { level: 6 },
        Compression::Zstd { level: 3 },
    ] {
        let (before, written_before) = write(sample_entries(host.path()), compression, 2);
        assert!(written_before.chunks.as_ref().unwrap().len() > 4);
        assert_eq!(written_before.reused, 0);

        let (cold, written_cold) = write(one_file_changed(host.path()), compression, 1);
        let (warm, written_warm) = write_reusing(
            one_file_changed(host.path()),
            compression,
            (&before, &written_before),
        );
        assert!(warm == cold, "{compression:?}: reuse changed the blob");
        assert_eq!(written_warm.digest, written_cold.digest);
        assert_eq!(written_warm.diff_id, written_cold.diff_id);
        assert_eq!(written_warm.chunks, written_cold.chunks);
        // The changed file's chunk and perhaps the next are compressed again, at most
        // two chunks of 1 MiB; the rest (over 6 MiB) is copied.
        let tar = written_warm.tar_size;
        assert!(
            written_warm.reused + 2 * 1024 * 1024 >= tar && written_warm.reused < tar,
            "{compression:?}: reused {} of {tar}",
            written_warm.reused
        );
        let codec = match compression {
            Compression::Gzip { .. } => "gzip",
            _ => "zstd",
        };
        run(codec, codec, &["-t"], &warm);
        assert_eq!(
            sha256sum(&run(codec, codec, &["-dc"], &warm)),
            written_warm.diff_id.to_string()
        );

        // The same entries again reuse every chunk.
        let (again, written_again) = write_reusing(
            one_file_changed(host.path()),
            compression,
            (&warm, &written_warm),
        );
        assert!(again == warm);
        assert_eq!(written_again.reused, tar);
    }
}

// See: issue 13
#[test]
fn a_corrupt_chunk_of_the_earlier_blob_is_compressed_again() {
    let host = tempfile::tempdir().unwrap();
    for (compression, codec) in [
        (Compression::Gzip { level: 6 }, "gzip"),
        (Compression::Zstd { level: 3 }, "zstd"),
    ] {
        let (mut before, written_before) = write(sample_entries(host.path()), compression, 2);
        // A byte inside the chunk that starts `app/big.bin`, far from the changed file,
        // changes on disk; the length stays.
        before[100] ^= 0x20;
        let (cold, written_cold) = write(one_file_changed(host.path()), compression, 1);
        let (warm, written_warm) = write_reusing(
            one_file_changed(host.path()),
            compression,
            (&before, &written_before),
        );
        assert!(warm == cold, "{compression:?}: the corrupt byte was copied");
        // The digest told is that of the bytes written.
        assert_eq!(sha256sum(&warm), written_warm.digest.to_string());
        assert_eq!(written_warm.digest, written_cold.digest);
        assert_eq!(written_warm.diff_id, written_cold.diff_id);
        assert_eq!(written_warm.chunks, written_cold.chunks);
        assert_eq!(written_warm.corrupt_chunks, 1, "{compression:?}");
        assert!(written_warm.reused > 0, "the other chunks are still copied");
        let tar = run(codec, codec, &["-dc"], &warm);
        assert_eq!(sha256sum(&tar), written_cold.diff_id.to_string());
        assert_eq!(
            tar_listing(&tar),
            tar_listing(&run(codec, codec, &["-dc"], &cold))
        );
    }
}

#[test]
fn chunks_are_not_reused_from_another_blob_or_codec() {
    let host = tempfile::tempdir().unwrap();
    let gzip = Compression::Gzip { level: 6 };
    let (before, written_before) = write(sample_entries(host.path()), gzip, 2);
    let (cold, _) = write(sample_entries(host.path()), gzip, 2);

    // Bytes of the right size that are not the indexed blob: every chunk fails its check.
    let zeros = vec![0u8; before.len()];
    let (blob, written) =
        write_reusing(sample_entries(host.path()), gzip, (&zeros, &written_before));
    assert!(blob == cold);
    assert_eq!(written.reused, 0);
    let chunks = written.chunks.as_ref().map(ChunkIndex::len);
    assert_eq!(Some(written.corrupt_chunks as usize), chunks);

    // A blob of another size is not used at all.
    let (blob, written) = write_reusing(
        sample_entries(host.path()),
        gzip,
        (&before[..before.len() - 1], &written_before),
    );
    assert!(blob == cold);
    assert_eq!((written.reused, written.corrupt_chunks), (0, 0));

    // Chunks of another level are not reused.
    let level_9 = Compression::Gzip { level: 9 };
    let (cold_9, _) = write(sample_entries(host.path()), level_9, 2);
    let (blob, written) = write_reusing(
        sample_entries(host.path()),
        level_9,
        (&before, &written_before),
    );
    assert!(blob == cold_9);
    assert_eq!((written.reused, written.corrupt_chunks), (0, 0));
}

#[test]
fn tar_lists_modes_owners_mtimes_and_whiteouts() {
    let host = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = sample_entries(host.path())
        .into_iter()
        .filter(|e| !e.path.to_string().starts_with("data/"))
        .collect();
    let (tar, _) = write(entries, Compression::Uncompressed, 1);
    let listing = tar_listing(&tar);
    let expected = "\
drwxr-xr-x 0/0               0 2020-09-13 12:26:40 app/
-rw-r----- 1000/1000   3145745 1970-01-01 00:00:00 app/big.bin
hrw-r--r-- 0/0               0 1970-01-01 00:00:00 app/hard link to app/big.bin
lrwxrwxrwx 0/0               0 1970-01-01 00:00:00 app/link -> big.bin
-rwsr-xr-x 0/0               2 1970-01-01 00:00:00 bin/su
drwxr-xr-x 0/0               0 1970-01-01 00:00:00 dev/
brw-r--r-- 0/0             7,0 1970-01-01 00:00:00 dev/loop0
crw-rw-rw- 0/0             1,3 1970-01-01 00:00:00 dev/null
prw-r--r-- 0/0               0 1970-01-01 00:00:00 dev/pipe
---------- 0/0               0 1970-01-01 00:00:00 etc/.wh.motd
---------- 0/0               0 1970-01-01 00:00:00 var/cache/.wh..wh..opq
";
    assert_eq!(listing, expected);
}

/// Parses the raw tar and returns each header's (name, typeflag), PAX headers included.
fn raw_headers(tar: &[u8]) -> Vec<(String, u8)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let block = &tar[at..at + 512];
        let name_end = block[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&block[..name_end]).into_owned();
        let size_field = std::str::from_utf8(&block[124..135]).expect("octal size");
        let size = u64::from_str_radix(size_field, 8).expect("octal size") as usize;
        out.push((name, block[156]));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn pax_headers_only_for_values_ustar_cannot_hold() {
    let long = format!("deep/{}", "n".repeat(200));
    let split = format!("{}/{}", "d".repeat(140), "f".repeat(90));
    let entries = vec![
        Entry::new(p("short"), EntryKind::File(Content::Bytes(b"x".to_vec()))),
        Entry::new(p(&split), EntryKind::File(Content::Bytes(b"x".to_vec()))),
        Entry::new(p(&long), EntryKind::File(Content::Bytes(b"x".to_vec()))),
        Entry::new(p("biguid"), EntryKind::Dir).with_owner(3_000_000, 0),
        Entry::new(p("withattr"), EntryKind::Dir).with_xattr("user.k", b"v".to_vec()),
    ];
    let (tar, _) = write(entries, Compression::Uncompressed, 1);
    let types: Vec<u8> = raw_headers(&tar).iter().map(|(_, t)| *t).collect();
    // biguid, d…/f… (prefix split), deep/n…, short, withattr: PAX before the big uid, the
    // unsplittable name and the xattr only.
    assert_eq!(types, b"x50x00x5".to_vec());
    let listing = tar_listing(&tar);
    assert!(listing.contains(&long), "{listing}");
    assert!(listing.contains(&split), "{listing}");
    assert!(listing.contains("3000000/0"), "{listing}");
}

#[test]
fn host_file_content_and_mode_are_streamed() {
    let host = tempfile::tempdir().unwrap();
    write_file(host.path(), "script.sh", b"#!/bin/sh\necho hi\n");
    let file = host.path().join("script.sh");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    let entries =
        vec![Entry::new(p("script.sh"), EntryKind::File(Content::Host(file))).with_mode(0o755)];
    let (tar, _) = write(entries, Compression::Uncompressed, 1);
    let out = tempfile::tempdir().unwrap();
    run(
        "tar",
        "tar",
        &["-xf", "-", "-C", out.path().to_str().unwrap()],
        &tar,
    );
    assert_eq!(
        std::fs::read(out.path().join("script.sh")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
}

#[test]
fn host_contents_are_hashed_as_they_are_copied_when_asked() {
    use std::os::unix::fs::MetadataExt;

    let host = tempfile::tempdir().unwrap();
    let mut entries = sample_entries(host.path());
    entries.sort_by_key(Entry::tar_path);
    let write = |hash_contents| {
        let options = LayerOptions {
            compression: Compression::Zstd { level: 3 },
            threads: Some(2),
            hash_contents,
            ..LayerOptions::default()
        };
        let mut writer = LayerWriter::new(Vec::new(), &options);
        let mut contents = Vec::new();
        for entry in &entries {
            writer.append(entry).unwrap();
            let copied = writer.take_copied();
            let from_host = matches!(entry.kind, EntryKind::File(Content::Host(_)));
            assert_eq!(
                copied.is_some(),
                hash_contents && from_host,
                "{}",
                entry.path
            );
            contents.extend(copied);
        }
        (writer.finish().unwrap().0, contents)
    };
    let (plain, none) = write(false);
    assert!(none.is_empty());
    let (blob, contents) = write(true);
    assert_eq!(blob, plain, "hashing changes no byte");
    let hosts: Vec<_> = entries
        .iter()
        .filter_map(|entry| match &entry.kind {
            EntryKind::File(Content::Host(path)) => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert!(!hosts.is_empty());
    assert_eq!(contents.len(), hosts.len());
    for (path, copied) in hosts.iter().zip(&contents) {
        let bytes = std::fs::read(path).unwrap();
        let metadata = std::fs::metadata(path).unwrap();
        assert_eq!(copied.hash, *blake3::hash(&bytes).as_bytes());
        assert_eq!(
            (copied.size, copied.ino, copied.ctime_ns / 1_000_000_000),
            (bytes.len() as u64, metadata.ino(), metadata.ctime())
        );
    }
}

/// A sink that takes `room` bytes, then fails.
struct FullDisk {
    room: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::other("no space left in the test sink"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_fails_the_layer_with_its_error() {
    for (compression, threads) in [
        (Compression::Zstd { level: 3 }, 2),
        // One thread: few chunk buffers, so the tar waits for them to come back.
        (Compression::Zstd { level: 3 }, 1),
        (Compression::Gzip { level: 6 }, 2),
        (Compression::Uncompressed, 2),
    ] {
        let entries = (0..16)
            .map(|i| {
                let name = format!("f{i}");
                Entry::new(p(&name), EntryKind::File(Content::Bytes(noise(1 << 20, i))))
            })
            .collect();
        let options = LayerOptions {
            compression,
            threads: Some(threads),
            ..LayerOptions::default()
        };
        let error = write_layer(FullDisk { room: 3 << 20 }, entries, &options)
            .err()
            .expect("a sink with 3 MiB of room cannot take 16 MiB of noise");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("no space left in the test sink"),
            "{compression:?}: {error}"
        );
    }
}
