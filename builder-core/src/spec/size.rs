//! Sizes as docker's flags take them (`--keep-storage`, `cache-mounts-max=`).

/// Parses a size as docker's `--keep-storage` does (go-units' `RAMInBytes`): a number,
/// optionally with a fraction, then an optional unit `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`,
/// `t`/`tb`, `p`/`pb` in any case, in powers of 1024. Written here because the size crates
/// read `kB` as 1000 bytes, which is not what docker users mean by such a flag.
///
/// # Errors
///
/// A message naming the accepted forms when `text` is not a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let invalid =
        || format!("invalid size `{text}`: expected a number and a unit like 512MB or 10GB");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let power = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        _ => return Err(invalid()),
    };
    let bytes = value * 1024_f64.powi(power);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(invalid());
    }
    // A finite, non-negative value below u64::MAX: the cast only drops the fraction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_like_docker() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("1.5KB"), Ok(1536));
        assert_eq!(parse_size("10GB"), Ok(10 << 30));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        for bad in ["", "GB", "1xb", "-1", "1e3", "1.2.3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
