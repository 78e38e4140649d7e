//! The image history entry of a step, in the words BuildKit's Dockerfile frontend writes
//! (`dockerfile2llb`), so that tools reading history (`docker history`, dive) show what
//! they show for a BuildKit image.
//!
//! Each instruction has its own form, most of them Go's `fmt` output of the values set:
//! `RUN |2 A=1 B=2 /bin/sh -c make # buildkit` (the build arguments in effect, then the
//! command as run, a heredoc's body included), `COPY --chown=1:1 a b /dst/ # buildkit`,
//! `CMD ["/bin/sh" "-c" "run"]`, `EXPOSE map[80/tcp:{}]`, `VOLUME [/data]`,
//! `HEALTHCHECK &{["CMD" "true"] "30s" "0s" "0s" "0s" '\x03'}`. `ONBUILD` writes none.
//! Written by hand because these are Go's formatting rules, which no crate mirrors.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::config::DEFAULT_SHELL;
use crate::oci::{HealthConfig, ImageConfig};
use crate::plan::{Command, Copy, CopySource, KeyValue, Op, Run};

/// The comment BuildKit gives the history entries of a Dockerfile's steps.
pub(super) const COMMENT: &str = "buildkit.dockerfile.v0";

/// The `created_by` of the step `op`, given `config`, the image config with the step
/// applied; `None` for a step that BuildKit records no history for (`ONBUILD`).
pub(super) fn created_by(op: &Op, config: &ImageConfig) -> Option<String> {
    let run = &config.config;
    Some(match op {
        Op::Run(step) => run_text(step, run.shell.as_deref()),
        Op::Copy(copy) => copy_text(copy),
        Op::Env(pairs) => pairs_text("ENV", pairs),
        Op::Label(pairs) => pairs_text("LABEL", pairs),
        Op::Maintainer(name) => format!("MAINTAINER {name}"),
        Op::User(user) => format!("USER {user}"),
        Op::Workdir(_) => format!("WORKDIR {}", run.working_dir.as_deref().unwrap_or("/")),
        Op::Expose(ports) => {
            // A Go map prints its keys sorted.
            let ports: BTreeSet<&str> = ports.iter().map(String::as_str).collect();
            let entries: Vec<String> = ports.iter().map(|port| format!("{port}:{{}}")).collect();
            format!("EXPOSE map[{}]", entries.join(" "))
        }
        Op::Volume(volumes) => format!("VOLUME [{}]", volumes.join(" ")),
        Op::StopSignal(signal) => format!("STOPSIGNAL {signal}"),
        Op::Shell(shell) => format!("SHELL [{}]", shell.join(" ")),
        Op::Cmd(_) => format!("CMD {}", quoted_list(run.cmd.as_deref().unwrap_or(&[]))),
        Op::Entrypoint(_) => format!(
            "ENTRYPOINT {}",
            quoted_list(run.entrypoint.as_deref().unwrap_or(&[]))
        ),
        Op::Healthcheck(_) => {
            let none = HealthConfig::default();
            healthcheck_text(run.healthcheck.as_ref().unwrap_or(&none))
        }
        Op::Onbuild(_) => return None,
    })
}

/// `RUN`: the build arguments in effect (`|N K=V …`), the command as run, and BuildKit's
/// mark of a step that made a layer.
fn run_text(step: &Run, shell: Option<&[String]>) -> String {
    let mut words: Vec<String> = Vec::new();
    if !step.env.is_empty() {
        words.push(format!("|{}", step.env.len()));
        words.extend(step.env.iter().map(|kv| format!("{}={}", kv.key, kv.value)));
    }
    match &step.command {
        Command::Exec(args) => words.extend(args.iter().cloned()),
        Command::Shell(text) => {
            match shell {
                Some(shell) => words.extend(shell.iter().cloned()),
                None => words.extend(DEFAULT_SHELL.iter().map(|s| (*s).to_owned())),
            }
            words.push(text.clone());
        }
    }
    format!("RUN {} # buildkit", words.join(" "))
}

/// `COPY`/`ADD`: the flags BuildKit records, the sources (heredocs last, by name) and
/// the destination.
fn copy_text(copy: &Copy) -> String {
    let mut text = String::from(if copy.add.is_some() { "ADD" } else { "COPY" });
    if copy.parents {
        text.push_str(" --parents");
    }
    if let Some(chown) = &copy.chown {
        let _ = write!(text, " --chown={chown}");
    }
    if let Some(chmod) = &copy.chmod {
        let _ = write!(text, " --chmod={chmod}");
    }
    for source in &copy.sources {
        match source {
            CopySource::Path(path) | CopySource::Url(path) | CopySource::Git(path) => {
                let _ = write!(text, " {path}");
            }
            CopySource::Inline(_) => {}
        }
    }
    for source in &copy.sources {
        if let CopySource::Inline(file) = source {
            let _ = write!(text, " <<{}", file.name);
        }
    }
    let _ = write!(text, " {} # buildkit", copy.dest);
    text
}

/// `ENV`/`LABEL`: each pair as `key=value`, unquoted.
fn pairs_text(keyword: &str, pairs: &[KeyValue]) -> String {
    let mut text = keyword.to_owned();
    for KeyValue { key, value } in pairs {
        let _ = write!(text, " {key}={value}");
    }
    text
}

/// `HEALTHCHECK`: Go's `%q` of the config's health check: the test, the durations as
/// `time.Duration` prints them, and the retries as a quoted rune.
fn healthcheck_text(check: &HealthConfig) -> String {
    let durations = [
        check.interval,
        check.timeout,
        check.start_period,
        check.start_interval,
    ]
    .map(|nanos| go_quote(&go_duration(nanos)));
    format!(
        "HEALTHCHECK &{{{} {} {}}}",
        quoted_list(&check.test),
        durations.join(" "),
        go_quote_rune(check.retries)
    )
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| go_quote(item)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `strconv.Quote`: double quotes, with Go's escapes for quotes, backslashes and
/// characters that are not printable.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        escape_into(&mut quoted, c, '"');
    }
    quoted.push('"');
    quoted
}

/// Go's `%q` of an integer: the rune it is, in single quotes (`'\x03'`, `'A'`).
fn go_quote_rune(value: i64) -> String {
    let c = u32::try_from(value)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut quoted = String::from('\'');
    escape_into(&mut quoted, c, '\'');
    quoted.push('\'');
    quoted
}

/// Appends `c` as Go quotes it inside `quote`s.
fn escape_into(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// Go's `time.Duration.String`: `0s`, `1.5s`, `500ms`, `1m30s`, `1h0m0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        // Below a second: the largest unit that keeps a whole part.
        let (unit, size) = match n {
            n if n < 1_000 => return format!("{sign}{n}ns"),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(n, size));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = n / 60_000_000_000 % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// `n / size` with the fraction's trailing zeros dropped (`1.5`, `2`).
fn fraction(n: u64, size: u64) -> String {
    let whole = n / size;
    let rest = n % size;
    if rest == 0 {
        return whole.to_string();
    }
    let digits = size.to_string().len() - 1;
    let fraction = format!("{rest:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Healthcheck, InlineFile};

    fn text(op: Op, config: &ImageConfig) -> String {
        created_by(&op, config).expect("an entry")
    }

    #[test]
    fn run_shows_arguments_and_the_command_as_run() {
        let config = ImageConfig::default();
        let mut run = Run::new(Command::Shell("make all".into()));
        assert_eq!(
            text(Op::Run(run.clone()), &config),
            "RUN /bin/sh -c make all # buildkit"
        );
        run.env = vec![KeyValue::new("A", "1"), KeyValue::new("B", "two words")];
        assert_eq!(
            text(Op::Run(run), &config),
            "RUN |2 A=1 B=two words /bin/sh -c make all # buildkit"
        );
        let mut config = ImageConfig::default();
        config.config.shell = Some(vec!["/bin/bash".into(), "-c".into()]);
        let exec = Run::new(Command::Exec(vec!["echo".into(), "hi".into()]));
        assert_eq!(text(Op::Run(exec), &config), "RUN echo hi # buildkit");
    }

    #[test]
    fn copy_shows_buildkits_flags_and_heredocs_last() {
        let mut copy = Copy::new(vec!["a".into(), "b c".into()], "/dst/");
        copy.chown = Some("1:2".into());
        copy.chmod = Some("755".into());
        copy.link = true;
        copy.exclude = vec!["*.tmp".into()];
        copy.sources.insert(
            0,
            CopySource::Inline(InlineFile {
                name: "EOF".into(),
                content: "x\n".into(),
            }),
        );
        let config = ImageConfig::default();
        assert_eq!(
            text(Op::Copy(copy.clone()), &config),
            "COPY --chown=1:2 --chmod=755 a b c <<EOF /dst/ # buildkit"
        );
        copy.add = Some(Default::default());
        copy.parents = true;
        copy.chmod = None;
        assert_eq!(
            text(Op::Copy(copy), &config),
            "ADD --parents --chown=1:2 a b c <<EOF /dst/ # buildkit"
        );
    }

    #[test]
    fn config_steps_are_gos_formatting_of_what_they_set() {
        let mut config = ImageConfig::default();
        config.config.cmd = Some(vec!["/bin/sh".into(), "-c".into(), "say \"hi\"\t".into()]);
        config.config.working_dir = Some("/tmp/".into());
        config.config.healthcheck = Some(HealthConfig {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: 30_000_000_000,
            timeout: 1_500_000_000,
            start_period: 90_000_000_000,
            start_interval: 0,
            retries: 3,
        });
        let cases = [
            (
                Op::Cmd(Command::Shell("ignored".into())),
                r#"CMD ["/bin/sh" "-c" "say \"hi\"\t"]"#,
            ),
            (Op::Workdir("ignored".into()), "WORKDIR /tmp/"),
            (
                Op::Expose(vec!["80/tcp".into(), "53/udp".into(), "80/tcp".into()]),
                "EXPOSE map[53/udp:{} 80/tcp:{}]",
            ),
            (Op::Volume(vec!["/a".into(), "/b".into()]), "VOLUME [/a /b]"),
            (
                Op::Shell(vec!["/bin/bash".into(), "-c".into()]),
                "SHELL [/bin/bash -c]",
            ),
            (
                Op::Env(vec![
                    KeyValue::new("A", "1"),
                    KeyValue::new("B", "two words"),
                ]),
                "ENV A=1 B=two words",
            ),
            (
                Op::Healthcheck(Healthcheck::None),
                r#"HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/"] "30s" "1.5s" "1m30s" "0s" '\x03'}"#,
            ),
            (Op::StopSignal("SIGINT".into()), "STOPSIGNAL SIGINT"),
            (Op::User("1000:1000".into()), "USER 1000:1000"),
            (Op::Maintainer("me".into()), "MAINTAINER me"),
        ];
        for (op, want) in cases {
            assert_eq!(text(op, &config), want);
        }
        assert_eq!(created_by(&Op::Onbuild("RUN x".into()), &config), None);
    }

    #[test]
    fn durations_and_runes_print_as_go_prints_them() {
        for (nanos, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (500_000_000, "500ms"),
            (1_000_000_000, "1s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (61_250_000_000, "1m1.25s"),
        ] {
            assert_eq!(go_duration(nanos), want);
        }
        assert_eq!(go_quote_rune(65), "'A'");
        assert_eq!(go_quote_rune(0), "'\\x00'");
        assert_eq!(go_quote_rune(10), "'\\n'");
        assert_eq!(go_quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\x01\"");
    }
}
