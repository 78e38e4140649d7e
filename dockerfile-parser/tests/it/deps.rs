//! The frontend does no I/O, and its dependency tree shows it: every crate that
//! `cargo tree -e normal` lists for it is on a reviewed list of crates that parse, hold
//! data or derive code. A new dependency, direct or transitive, fails the test until
//! someone has checked that it reaches no network, TLS, compression or archive code and
//! added it here.

use std::process::Command;

/// The crates the frontend may compile, itself included: the leaf types and the OCI spec
/// types their digests come from, the grammar (`pest` and its derive, whose stack guard
/// grows the stack on deep input), regexes, serde and JSON, string distance for
/// suggestions, and the macros that derive code.
const ALLOWED: &[&str] = &[
    "mkimage-dockerfile",
    "mkimage-plan",
    // grammar
    "pest",
    "pest_derive",
    "pest_generator",
    "pest_meta",
    "pest_stack_guard",
    "psm",
    "stacker",
    "ucd-trie",
    // regexes
    "regex",
    "regex-automata",
    "regex-syntax",
    "aho-corasick",
    "memchr",
    // data and errors
    "serde",
    "serde_core",
    "serde_derive",
    "serde_json",
    "itoa",
    "zmij",
    "thiserror",
    "thiserror-impl",
    "strsim",
    // OCI spec types (`Digest`) and the macros they derive with
    "oci-spec",
    "const_format",
    "const_format_proc_macros",
    "konst",
    "konst_macro_rules",
    "derive_builder",
    "derive_builder_core",
    "derive_builder_macro",
    "darling",
    "darling_core",
    "darling_macro",
    "fnv",
    "ident_case",
    "getset",
    "strum",
    "strum_macros",
    "heck",
    // proc macros and platform glue
    "proc-macro2",
    "quote",
    "syn",
    "unicode-ident",
    "unicode-xid",
    "cfg-if",
    "libc",
];

/// The names of the crates `package` compiles for the host (normal dependencies only,
/// itself included), from `cargo tree`. Panics when cargo cannot be run: a check that
/// cannot look must not pass.
fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = env!("CARGO");
    let output = Command::new(cargo)
        .args(["tree", "-e", "normal", "--prefix", "none", "-p", package])
        .args([
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{cargo} tree`: {error}"));
    assert!(
        output.status.success(),
        "`{cargo} tree -p {package}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The names in `crates` that [`ALLOWED`] does not list.
fn not_allowed(crates: &[String]) -> Vec<&str> {
    crates
        .iter()
        .map(String::as_str)
        .filter(|name| !ALLOWED.contains(name))
        .collect()
}

// See: issue 14
#[test]
fn frontend_compiles_only_reviewed_crates() {
    let crates = normal_dependencies("mkimage-dockerfile");
    for expected in ["mkimage-dockerfile", "mkimage-plan", "pest"] {
        assert!(
            crates.iter().any(|name| name == expected),
            "`cargo tree` does not list `{expected}`: {crates:?}"
        );
    }
    assert_eq!(
        not_allowed(&crates),
        Vec::<&str>::new(),
        "the frontend compiles crates nobody has checked for I/O; \
         add one to ALLOWED only if it does none"
    );
}

#[test]
fn engine_tree_is_refused() {
    let crates = normal_dependencies("mkimage-core");
    let refused = not_allowed(&crates);
    for expected in ["mkimage-core", "ureq", "rustls", "zstd", "flate2", "tar"] {
        assert!(
            refused.contains(&expected),
            "`{expected}` is not refused: {refused:?}"
        );
    }
}
