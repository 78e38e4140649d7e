//! `mkimage parse`: read a Dockerfile and print its instructions, as normalized Dockerfile
//! text or as JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use mkimage_core::frontend::{FrontendError, Location, read_dockerfile as read_text};
use mkimage_dockerfile::{Arguments, Flag, Instruction, LowerOptions};

use crate::args::ParseArgs;
use crate::located::Located;
use crate::render;

/// Runs `mkimage parse`.
pub(crate) fn run(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    let (name, text) = read_dockerfile(&args.file)?;
    let dockerfile = mkimage_dockerfile::parse(&text).map_err(|error| {
        let at = error.position();
        Located::new(
            Location::new(&name, &text, at.line, at.col),
            error.message(),
        )
    })?;
    for warning in &dockerfile.warnings {
        render::warning(&format!("{name}:{}: {}", warning.line, warning.message));
    }
    if args.plan {
        let lowered = lower(&name, &text, &dockerfile, args)?;
        for warning in &lowered.warnings {
            render::warning(&format!("{name}:{}: {}", warning.span, warning.message));
        }
        let json = serde_json::to_string_pretty(&lowered.plan).context("failed to write JSON")?;
        render::line(&json)?;
    } else if args.json {
        let json = serde_json::to_string_pretty(&dockerfile).context("failed to write JSON")?;
        render::line(&json)?;
    } else {
        let escape = dockerfile.directives.escape;
        // The text keeps arguments as written, so it means the same only with the same
        // escape character.
        if escape != '\\' {
            render::line(&format!("# escape={escape}"))?;
        }
        for instruction in &dockerfile.instructions {
            render::line(&normalized(instruction, escape))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lowers the parsed Dockerfile with the build arguments and target of `args`, for the
/// host's platform.
fn lower(
    name: &str,
    text: &str,
    dockerfile: &mkimage_dockerfile::Dockerfile,
    args: &ParseArgs,
) -> anyhow::Result<mkimage_dockerfile::Lowered> {
    let mut options = LowerOptions {
        target: args.target.clone(),
        ..LowerOptions::default()
    };
    for build_arg in &args.build_args {
        match build_arg.split_once('=') {
            Some((key, value)) => {
                options.build_args.insert(key.to_owned(), value.to_owned());
            }
            // As docker does: `--build-arg KEY` takes `KEY` from the environment.
            None => {
                if let Ok(value) = std::env::var(build_arg) {
                    options.build_args.insert(build_arg.clone(), value);
                }
            }
        }
    }
    mkimage_dockerfile::lower(dockerfile, &options).map_err(|error| lower_error(name, text, error))
}

/// A lowering error, located in the Dockerfile `name` (whose text is `text`) when it has
/// a position.
fn lower_error(name: &str, text: &str, error: mkimage_dockerfile::LowerError) -> anyhow::Error {
    match error.span() {
        Some(span) => Located::error(Location::new(name, text, span.line, span.col), &error).into(),
        None => anyhow::Error::new(error),
    }
}

/// Reads the Dockerfile at `path` (`-`: standard input); returns the name to show and the text.
pub(crate) fn read_dockerfile(path: &Path) -> Result<(String, String), FrontendError> {
    if path == Path::new("-") {
        let name = "<stdin>";
        return Ok((name.to_owned(), read_text(std::io::stdin().lock(), name)?));
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| FrontendError::ReadDockerfile {
        name: name.clone(),
        source,
    })?;
    let text = read_text(file, &name)?;
    Ok((name, text))
}

/// The instruction as Dockerfile text: the keyword in upper case, the flags, the
/// arguments, then any heredoc bodies with their delimiters.
fn normalized(instruction: &Instruction, escape: char) -> String {
    let mut text = line(instruction, escape);
    for heredoc in &instruction.heredocs {
        text.push('\n');
        text.push_str(&heredoc.content);
        text.push_str(&heredoc.name);
    }
    if let Some(sub) = instruction.sub() {
        for heredoc in &sub.heredocs {
            text.push('\n');
            text.push_str(&heredoc.content);
            text.push_str(&heredoc.name);
        }
    }
    text
}

/// The instruction's line, without heredoc bodies.
fn line(instruction: &Instruction, escape: char) -> String {
    let keyword = match instruction.kind.as_str() {
        "" => return instruction.original.trim().to_owned(),
        keyword => keyword,
    };
    let mut parts = vec![keyword.to_owned()];
    parts.extend(instruction.flags.iter().map(|flag| flag_word(flag, escape)));
    let args = arguments(instruction, escape);
    // Arguments that start like a flag were written after `--`, which ended the flags.
    if args.first().is_some_and(|arg| arg.starts_with("--")) {
        parts.push("--".to_owned());
    }
    parts.extend(args);
    parts.join(" ")
}

/// The instruction's arguments as words of its line.
fn arguments(instruction: &Instruction, escape: char) -> Vec<String> {
    let mut parts = Vec::new();
    match &instruction.args {
        Arguments::None => {}
        Arguments::Words(words) => parts.extend(words.iter().cloned()),
        Arguments::Exec(strings) => parts.push(json_array(strings)),
        Arguments::Text(text) => parts.push(text.clone()),
        Arguments::Pairs(pairs) => parts.extend(pairs.iter().map(|pair| {
            let sep = if pair.legacy { " " } else { "=" };
            format!("{}{sep}{}", pair.key, pair.value)
        })),
        Arguments::Healthcheck { kind, command } => {
            parts.push(kind.to_ascii_uppercase());
            match &**command {
                Arguments::Exec(strings) => parts.push(json_array(strings)),
                Arguments::Text(text) => parts.push(text.clone()),
                _ => {}
            }
        }
        Arguments::Trigger(sub) => parts.push(line(sub, escape)),
    }
    parts
}

/// A flag as a word that reads back the same: `--name=value`, with the name and the value
/// quoted when needed (a word is a flag only when it starts with `--`).
fn flag_word(flag: &Flag, escape: char) -> String {
    let name = quoted(&flag.name, escape);
    match &flag.value {
        Some(value) => format!("--{name}={}", quoted(value, escape)),
        None => format!("--{name}"),
    }
}

/// `word`, in double quotes when it holds blanks, quotes or the escape character, which
/// then escapes `"` and itself.
fn quoted(word: &str, escape: char) -> String {
    if !word.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == escape) {
        return word.to_owned();
    }
    let mut quoted = String::from('"');
    for c in word.chars() {
        if c == '"' || c == escape {
            quoted.push(escape);
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A JSON array of strings, written as Dockerfiles usually write it: `["a", "b"]`.
fn json_array(strings: &[String]) -> String {
    let items: Vec<String> = strings
        .iter()
        .map(|s| serde_json::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", items.join(", "))
}
