//! `--platform` values (`linux/amd64`, `linux/arm/v7`, `arm64`, `linux`), read as
//! containerd's `platforms.Parse` reads them, with its normalization of architecture
//! names and variants. A lone OS or architecture takes the rest from the build platform,
//! as BuildKit takes it from the host it runs on.

use mkimage_plan::Platform;

/// A `--platform` value that names no platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{value}`: {reason}")]
pub struct PlatformError {
    value: String,
    reason: &'static str,
}

/// Parses a platform specifier.
///
/// # Errors
/// When it is empty, has more than three components, a component with characters other
/// than letters, digits, `_`, `.` and `-`, a wildcard, or is a single word that is neither
/// a known OS nor a known architecture.
pub(crate) fn parse_platform(value: &str, build: &Platform) -> Result<Platform, PlatformError> {
    let error = |reason| PlatformError {
        value: value.to_owned(),
        reason,
    };
    if value.contains('*') {
        return Err(error("wildcards are not allowed"));
    }
    let parts: Vec<&str> = value.split('/').collect();
    let valid_component = |part: &&str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if !parts.iter().all(valid_component) || parts[0].contains('.') {
        return Err(error(
            "expected `os/arch[/variant]` made of letters, digits, `_`, `.` and `-`",
        ));
    }
    let os = normalize_os(parts[0]);
    match parts.as_slice() {
        [word] => {
            if is_known_os(&os) {
                return Ok(Platform::new(
                    &os,
                    build.architecture(),
                    build
                        .variant()
                        .filter(|&variant| build.architecture() == "arm" && variant != "v7"),
                ));
            }
            let (arch, variant) = normalize_arch(word, "");
            if !is_known_arch(&arch) {
                return Err(error("not a known operating system or architecture"));
            }
            Ok(Platform::new(
                build.os(),
                &arch,
                without_arm_v7(&arch, &variant),
            ))
        }
        [_, arch] => {
            let (arch, variant) = normalize_arch(arch, "");
            Ok(Platform::new(&os, &arch, without_arm_v7(&arch, &variant)))
        }
        [_, arch, variant] => {
            let (arch, variant) = normalize_arch(arch, variant);
            let variant = match (arch.as_str(), variant.as_str()) {
                ("arm64", "") => "v8",
                (_, variant) => variant,
            };
            Ok(Platform::new(
                &os,
                &arch,
                Some(variant).filter(|v| !v.is_empty()),
            ))
        }
        _ => Err(error("expected at most three components")),
    }
}

/// `arm/v7` is written `arm` when the variant was not given.
fn without_arm_v7<'a>(arch: &str, variant: &'a str) -> Option<&'a str> {
    match (arch, variant) {
        (_, "") | ("arm", "v7") => None,
        (_, variant) => Some(variant),
    }
}

fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

/// containerd's canonical architecture and variant names.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let variant = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), variant)
        }
        _ => (arch, variant),
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> String {
        let build: Platform = "linux/amd64".parse().unwrap();
        parse_platform(value, &build).unwrap().to_string()
    }

    #[test]
    fn pairs_and_triples_are_normalized() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("Linux/X86_64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/arm64/8", "linux/arm64/v8"),
            ("linux/arm64/v9.0", "linux/arm64/v9"),
            ("linux/arm", "linux/arm"),
            ("linux/arm/v7", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/i386", "linux/386"),
            ("macos/arm64", "darwin/arm64"),
            ("linux/riscv64", "linux/riscv64"),
            ("linux/s390x", "linux/s390x"),
        ];
        for (value, expected) in cases {
            assert_eq!(parse(value), expected, "{value}");
        }
    }

    #[test]
    fn one_word_takes_the_rest_from_the_build_platform() {
        assert_eq!(parse("linux"), "linux/amd64");
        assert_eq!(parse("arm64"), "linux/arm64");
        assert_eq!(parse("armhf"), "linux/arm");
        assert_eq!(parse("windows"), "windows/amd64");
        let arm: Platform = "linux/arm/v6".parse().unwrap();
        assert_eq!(
            parse_platform("linux", &arm).unwrap().to_string(),
            "linux/arm/v6"
        );
        let arm: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(
            parse_platform("linux", &arm).unwrap().to_string(),
            "linux/arm"
        );
    }

    #[test]
    fn invalid_specifiers() {
        let build: Platform = "linux/amd64".parse().unwrap();
        let error = |value: &str| parse_platform(value, &build).unwrap_err().to_string();
        assert_eq!(
            error("foo"),
            "invalid platform `foo`: not a known operating system or architecture"
        );
        assert_eq!(
            error("linux/*"),
            "invalid platform `linux/*`: wildcards are not allowed"
        );
        assert_eq!(
            error("linux/amd64/v1/x"),
            "invalid platform `linux/amd64/v1/x`: expected at most three components"
        );
        for value in ["", "linux/", "/amd64", "linux/am d64", "linux(10.0)/amd64"] {
            assert!(parse_platform(value, &build).is_err(), "{value:?}");
        }
    }
}
