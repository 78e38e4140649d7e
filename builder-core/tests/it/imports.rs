//! The top-level modules of the crate import each other one way only (issue 14): no two
//! modules import each other, directly or through others, and the frontend is the top.
//!
//! An import is any path `crate::<module>…` in a module's code, its `use` lines or its
//! docs (an intra-doc link is an import too). `#[cfg(test)]` items and the files of test
//! modules are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Each top-level module and the top-level modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// What one source file declares and names.
#[derive(Default)]
struct Scan {
    /// The modules it declares out of line (`mod name;`), outside `#[cfg(test)]`.
    mods: Vec<String>,
    /// The first segment of every `crate::` path, in code and docs.
    paths: BTreeSet<String>,
}

/// The import graph of the top-level modules of the crate rooted at `src/lib.rs`.
fn import_graph(src: &Path) -> Graph {
    let root = scan_file(&src.join("lib.rs"));
    let modules: BTreeSet<String> = root.mods.iter().cloned().collect();
    let mut graph = Graph::new();
    for module in &modules {
        let mut imports = BTreeSet::new();
        for file in module_files(src, module) {
            imports.extend(scan_file(&file).paths);
        }
        imports.retain(|name| name != module && modules.contains(name));
        graph.insert(module.clone(), imports);
    }
    graph
}

/// The files of the top-level module `name` and of its submodules, following their
/// `mod` declarations (so files of `#[cfg(test)]` modules are not among them).
fn module_files(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut queue = vec![module_file(src, name)];
    while let Some(file) = queue.pop() {
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs") => file.parent().expect("a file has a directory").to_owned(),
            _ => file.with_extension(""),
        };
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        queue.extend(
            scan_file(&file)
                .mods
                .iter()
                .map(|child| module_file(&dir, child)),
        );
        files.push(file);
    }
    files
}

/// `dir/name.rs`, or `dir/name/mod.rs` when that is the one that exists.
fn module_file(dir: &Path, name: &str) -> PathBuf {
    let flat = dir.join(format!("{name}.rs"));
    let nested = dir.join(name).join("mod.rs");
    if flat.is_file() || !nested.is_file() {
        flat
    } else {
        nested
    }
}

fn scan_file(file: &Path) -> Scan {
    let text = fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", file.display()));
    let tokens: TokenStream = text
        .parse()
        .unwrap_or_else(|e| panic!("cannot tokenize `{}`: {e:?}", file.display()));
    let mut scan = Scan::default();
    scan_tokens(tokens, true, &mut scan);
    scan
}

/// Collects the `crate::` paths of `tokens`, and, at the top of a file (`top`), its
/// out-of-line module declarations; skips every item under `#[cfg(test)]`.
fn scan_tokens(tokens: TokenStream, top: bool, scan: &mut Scan) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                let inner =
                    matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                let at = i + 1 + usize::from(inner);
                if let Some(TokenTree::Group(attr)) = tokens.get(at) {
                    if is_cfg_test(&attr.stream()) {
                        if inner {
                            // `#![cfg(test)]`: the whole file or block is test code.
                            return;
                        }
                        i = skip_item(&tokens, at + 1);
                        continue;
                    }
                    scan_attribute(attr.stream(), scan);
                    i = at + 1;
                    continue;
                }
            }
            TokenTree::Ident(ident) if ident == "crate" && is_path_sep(&tokens, i + 1) => {
                match tokens.get(i + 3) {
                    Some(TokenTree::Ident(name)) => {
                        scan.paths.insert(name.to_string());
                    }
                    Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                        scan.paths.extend(use_group_heads(group.stream()));
                    }
                    _ => {}
                }
            }
            TokenTree::Ident(ident) if top && ident == "mod" => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Punct(semi))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                    && semi.as_char() == ';'
                {
                    scan.mods.push(name.to_string());
                }
            }
            TokenTree::Group(group) => scan_tokens(group.stream(), false, scan),
            _ => {}
        }
        i += 1;
    }
}

/// Whether an attribute's content is `cfg(test)`.
fn is_cfg_test(attr: &TokenStream) -> bool {
    let text: String = attr.to_string().split_whitespace().collect();
    text == "cfg(test)"
}

/// The index after the item that starts at `start`: past its other attributes, up to its
/// `;` or its first `{ … }` body.
fn skip_item(tokens: &[TokenTree], start: usize) -> usize {
    let mut i = start;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == ';' => return i + 1,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Collects the `crate::` paths an attribute names: in code (`#[error(…)]`) or in its
/// text (`#[doc = "… [link](crate::store) …"]`, which is what doc comments are).
fn scan_attribute(attr: TokenStream, scan: &mut Scan) {
    for token in attr.clone() {
        if let TokenTree::Literal(literal) = token {
            let text = literal.to_string();
            let mut rest = text.as_str();
            while let Some(at) = rest.find("crate::") {
                let before = rest[..at].chars().next_back();
                let after = &rest[at + "crate::".len()..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && !name.is_empty() {
                    scan.paths.insert(name);
                }
                rest = after;
            }
        }
    }
    scan_tokens(attr, false, scan);
}

/// Whether `tokens[at..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], at: usize) -> bool {
    matches!(
        (tokens.get(at), tokens.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// The first segment of each path in a `use crate::{a::B, c, d::{e}}` group: `a`, `c`, `d`.
fn use_group_heads(group: TokenStream) -> Vec<String> {
    let mut heads = Vec::new();
    let mut at_start = true;
    for token in group {
        match token {
            TokenTree::Ident(ident) if at_start => heads.push(ident.to_string()),
            TokenTree::Punct(p) if p.as_char() == ',' => {
                at_start = true;
                continue;
            }
            _ => {}
        }
        at_start = false;
    }
    heads
}

/// A shortest import cycle, `[a, b, …, a]`, when the graph has one: the first found
/// from the modules in name order.
///
/// Written here because a graph crate (petgraph's `tarjan_scc`, `toposort`) reports a
/// group of modules or one module, not the path of imports the failure should name.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    graph.keys().find_map(|start| {
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue: VecDeque<&str> = VecDeque::from([start.as_str()]);
        while let Some(module) = queue.pop_front() {
            for next in graph.get(module).into_iter().flatten() {
                if next == start {
                    let mut cycle = vec![start.clone()];
                    let mut at = module;
                    while at != start {
                        cycle.push(at.to_owned());
                        at = came_from[at];
                    }
                    cycle.push(start.clone());
                    cycle.reverse();
                    return Some(cycle);
                }
                if !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, module);
                    queue.push_back(next);
                }
            }
        }
        None
    })
}

#[test]
fn core_modules_import_one_way() {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "too few modules found: {graph:?}");
    assert!(
        graph["build"].contains("store"),
        "edges are missing: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("the modules import each other: {}", cycle.join(" -> "));
    }
    let above: Vec<&String> = graph
        .iter()
        .filter(|(_, imports)| imports.contains("frontend"))
        .map(|(module, _)| module)
        .collect();
    assert!(
        above.is_empty(),
        "the frontend is the top, yet imported by {above:?}"
    );
}

/// Writes a small crate: `lib.rs` and each `(path, text)` of `files` under `src/`.
fn write_crate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn a_cycle_through_a_doc_link_is_named() {
    let dir = write_crate(&[
        (
            "lib.rs",
            "pub mod a;\nmod b;\nmod c;\n#[cfg(test)]\nmod d;\n",
        ),
        ("a.rs", "use crate::{c::C, b};\n"),
        ("b/mod.rs", "mod inner;\n"),
        ("b/inner.rs", "//! Reads [what c holds](crate::c).\n"),
        ("c.rs", "pub fn f() { crate::a::g() }\n"),
        ("d.rs", "use crate::a;\n"),
    ]);
    let graph = import_graph(dir.path());
    assert_eq!(
        format!("{graph:?}"),
        r#"{"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}"#
    );
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "c", "a"]);
}

#[test]
fn test_code_imports_nothing() {
    let dir = write_crate(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub struct A;\n"),
        ("b.rs", "use crate::a::A;\n#[cfg(test)]\nmod tests;\n"),
        ("b/tests.rs", "use crate::b;\n"),
        (
            "a/x.rs",
            "// not declared: not part of the crate\nuse crate::b;\n",
        ),
    ]);
    let mut lib = fs::read_to_string(dir.path().join("a.rs")).unwrap();
    lib.push_str("#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n");
    lib.push_str("#[cfg(test)]\nfn helper() -> crate::b::B { crate::b::B }\n");
    fs::write(dir.path().join("a.rs"), lib).unwrap();
    let graph = import_graph(dir.path());
    assert_eq!(format!("{graph:?}"), r#"{"a": {}, "b": {"a"}}"#);
    assert_eq!(find_cycle(&graph), None);
}
