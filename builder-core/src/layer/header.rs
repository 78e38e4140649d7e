//! Byte-exact tar headers: USTAR, with a PAX extended header only where USTAR cannot hold
//! a value.
//!
//! Written by hand rather than with the `tar` crate's `Builder`: that builder normalizes
//! link targets through `Path` components (a symlink's target must stay verbatim), falls
//! back to GNU long-name records instead of PAX, and has no PAX writer; we need every byte
//! of a header fixed so that the same entries always give the same tar. Reading uses the
//! `tar` crate.

use std::collections::BTreeMap;

use super::LayerError;

/// The size of a tar block.
pub(crate) const BLOCK: usize = 512;

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
/// The largest value of a 7-digit octal field (mode, uid, gid, device numbers).
const MAX_OCTAL_7: u64 = 0o7_777_777;
/// The largest value of an 11-digit octal field (size, mtime).
const MAX_OCTAL_11: u64 = 0o77_777_777_777;

/// Tar type flags.
pub(crate) mod typeflag {
    pub(crate) const FILE: u8 = b'0';
    pub(crate) const HARD_LINK: u8 = b'1';
    pub(crate) const SYMLINK: u8 = b'2';
    pub(crate) const CHAR: u8 = b'3';
    pub(crate) const BLOCK: u8 = b'4';
    pub(crate) const DIR: u8 = b'5';
    pub(crate) const FIFO: u8 = b'6';
    pub(crate) const PAX: u8 = b'x';
}

/// The `st_mode` file-type bits that Docker, containerd and containers/storage put in the
/// mode field beside the permissions (Go's tar once did, and they kept it so that layer
/// digests stay stable); readers mask them off, but matching them makes our layers look
/// like theirs entry for entry.
fn file_type_bits(typeflag: u8) -> u32 {
    match typeflag {
        typeflag::FILE | typeflag::HARD_LINK => 0o100_000,
        typeflag::SYMLINK => 0o120_000,
        typeflag::CHAR => 0o020_000,
        typeflag::BLOCK => 0o060_000,
        typeflag::DIR => 0o040_000,
        typeflag::FIFO => 0o010_000,
        _ => 0,
    }
}

/// The fields of one tar entry's header.
pub(crate) struct Fields<'a> {
    /// The name, with a trailing `/` for a directory.
    pub name: &'a [u8],
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub link: &'a [u8],
    pub dev: (u32, u32),
    pub xattrs: &'a BTreeMap<String, Vec<u8>>,
}

/// Appends to `out` the header blocks of one entry: a PAX header and its records when
/// needed, then the USTAR header. The entry's data (and its padding) follow separately.
pub(crate) fn encode(fields: &Fields<'_>, out: &mut Vec<u8>) -> Result<(), LayerError> {
    let path_err = || String::from_utf8_lossy(fields.name).into_owned();
    if u64::from(fields.dev.0) > MAX_OCTAL_7 || u64::from(fields.dev.1) > MAX_OCTAL_7 {
        return Err(LayerError::DeviceNumberTooLarge { path: path_err() });
    }
    if fields.name.contains(&0) || fields.link.contains(&0) {
        return Err(LayerError::PathHasNul { path: path_err() });
    }

    let mut pax = Vec::new();
    let split = split_ustar_name(fields.name);
    if split.is_none() {
        pax_record(&mut pax, "path", fields.name);
    }
    if fields.link.len() > NAME_LEN {
        pax_record(&mut pax, "linkpath", fields.link);
    }
    if fields.size > MAX_OCTAL_11 {
        pax_record(&mut pax, "size", fields.size.to_string().as_bytes());
    }
    if u64::from(fields.uid) > MAX_OCTAL_7 {
        pax_record(&mut pax, "uid", fields.uid.to_string().as_bytes());
    }
    if u64::from(fields.gid) > MAX_OCTAL_7 {
        pax_record(&mut pax, "gid", fields.gid.to_string().as_bytes());
    }
    let mtime_fits = u64::try_from(fields.mtime).is_ok_and(|m| m <= MAX_OCTAL_11);
    if !mtime_fits {
        pax_record(&mut pax, "mtime", fields.mtime.to_string().as_bytes());
    }
    for (name, value) in fields.xattrs {
        pax_record(&mut pax, &format!("SCHILY.xattr.{name}"), value);
    }

    if !pax.is_empty() {
        let mut name = b"PaxHeaders.0/".to_vec();
        let base = fields
            .name
            .strip_suffix(b"/")
            .unwrap_or(fields.name)
            .rsplit(|b| *b == b'/')
            .next()
            .unwrap_or_default();
        name.extend_from_slice(&base[..base.len().min(NAME_LEN - name.len())]);
        let mut block = [0u8; BLOCK];
        put_bytes(&mut block[0..100], &name);
        put_octal(&mut block[100..108], 0);
        put_octal(&mut block[108..116], 0);
        put_octal(&mut block[116..124], 0);
        put_octal(&mut block[124..136], pax.len() as u64);
        put_octal(&mut block[136..148], 0);
        block[156] = typeflag::PAX;
        finish_ustar(&mut block);
        out.extend_from_slice(&block);
        out.extend_from_slice(&pax);
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }

    let mut block = [0u8; BLOCK];
    match split {
        Some((prefix, name)) => {
            put_bytes(&mut block[0..100], name);
            put_bytes(&mut block[345..500], prefix);
        }
        // The PAX `path` record holds the name; the USTAR field keeps its first bytes.
        None => put_bytes(&mut block[0..100], &fields.name[..NAME_LEN]),
    }
    put_octal(
        &mut block[100..108],
        u64::from(fields.mode & 0o7777 | file_type_bits(fields.typeflag)),
    );
    put_octal(&mut block[108..116], u64::from(fields.uid).min(MAX_OCTAL_7));
    put_octal(&mut block[116..124], u64::from(fields.gid).min(MAX_OCTAL_7));
    put_octal(&mut block[124..136], fields.size.min(MAX_OCTAL_11));
    let mtime = if mtime_fits {
        fields.mtime.unsigned_abs()
    } else {
        0
    };
    put_octal(&mut block[136..148], mtime);
    block[156] = fields.typeflag;
    put_bytes(
        &mut block[157..257],
        &fields.link[..fields.link.len().min(NAME_LEN)],
    );
    put_octal(&mut block[329..337], u64::from(fields.dev.0));
    put_octal(&mut block[337..345], u64::from(fields.dev.1));
    finish_ustar(&mut block);
    out.extend_from_slice(&block);
    Ok(())
}

/// How many zero bytes pad `size` bytes of data to a whole block.
pub(crate) fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

/// Splits `name` into USTAR `prefix` and `name` fields: the whole name when it fits in
/// 100 bytes, else at the first `/` that leaves at most 155 bytes before and 1 to 100
/// after. `None` when no split fits (a PAX `path` record is needed).
fn split_ustar_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= NAME_LEN {
        return Some((&[], name));
    }
    name.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(|(i, _)| (&name[..i], &name[i + 1..]))
        .find(|(prefix, rest)| {
            prefix.len() <= PREFIX_LEN
                && !rest.is_empty()
                && rest.len() <= NAME_LEN
                && rest != b"/"
                && !prefix.is_empty()
        })
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `len` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn put_bytes(field: &mut [u8], value: &[u8]) {
    field[..value.len()].copy_from_slice(value);
}

/// Writes `value` as zero-padded octal digits filling the field but its last byte (NUL).
fn put_octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

/// Sets the USTAR magic and version, then the checksum.
fn finish_ustar(block: &mut [u8; BLOCK]) {
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    let digits = format!("{sum:06o}");
    block[148..154].copy_from_slice(digits.as_bytes());
    block[154] = 0;
    block[155] = b' ';
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(name: &'a [u8], xattrs: &'a BTreeMap<String, Vec<u8>>) -> Fields<'a> {
        Fields {
            name,
            typeflag: typeflag::FILE,
            mode: 0o4755,
            uid: 1000,
            gid: 1000,
            size: 5,
            mtime: 1_700_000_000,
            link: b"",
            dev: (0, 0),
            xattrs,
        }
    }

    #[test]
    fn short_name_is_one_ustar_block() -> Result<(), LayerError> {
        let none = BTreeMap::new();
        let mut out = Vec::new();
        encode(&fields(b"usr/bin/tool", &none), &mut out)?;
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[..12], b"usr/bin/tool");
        // The permissions with the regular-file type bits, as Docker writes them.
        assert_eq!(&out[100..108], b"0104755\0");
        assert_eq!(&out[124..136], b"00000000005\0");
        assert_eq!(&out[257..265], b"ustar\x0000");
        // No user or group names.
        assert!(out[265..329].iter().all(|b| *b == 0));
        Ok(())
    }

    #[test]
    fn long_name_uses_prefix_before_pax() -> Result<(), LayerError> {
        let none = BTreeMap::new();
        let name = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let mut out = Vec::new();
        encode(&fields(name.as_bytes(), &none), &mut out)?;
        assert_eq!(out.len(), BLOCK);
        let name = "n".repeat(300);
        let mut out = Vec::new();
        encode(&fields(name.as_bytes(), &none), &mut out)?;
        assert_eq!(out[156], typeflag::PAX);
        assert!(
            out.windows(name.len() + 10)
                .any(|w| w == format!("310 path={name}\n").as_bytes())
        );
        Ok(())
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "path", &[b'a'; 93]);
        assert_eq!(out.len(), 103);
        assert!(out.starts_with(b"103 path="));
    }
}
