//! `RUN`: flags, mounts and heredocs.
//!
//! Heredocs are handled as BuildKit does: when the whole command is one heredoc marker
//! (`RUN <<EOF`), a body starting with `#!` becomes a file under `/dev/pipes/` that the
//! shell runs, and any other body is the shell's script; otherwise the command line and
//! the bodies go to the shell together, which reads the heredocs itself. Bodies are never
//! expanded here: the shell does it.

use mkimage_plan::{Command, InlineFile, Mount, Op, Run, Span};

use super::error::LowerError;
use super::flags::{Flags, Kind};
use super::heredoc;
use super::instr::Instr;
use super::stage::{StageLowerer, arguments, check_path, command, command_text, expand_error};
use crate::expand::Vars;
use crate::mount::parse_mount;
use crate::sandbox::{parse_network, parse_security};

const RUN_FLAGS: &[(&str, Kind)] = &[
    ("mount", Kind::Repeated),
    ("network", Kind::String),
    ("security", Kind::String),
];

impl StageLowerer<'_> {
    pub(super) fn run(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let span = instr.span;
        let flags = Flags::parse(instr, RUN_FLAGS)?;
        let sandbox = |source| LowerError::Sandbox { span, source };
        let network = flags
            .string("network")
            .map(parse_network)
            .transpose()
            .map_err(sandbox)?
            .unwrap_or_default();
        let security = flags
            .string("security")
            .map(parse_security)
            .transpose()
            .map_err(sandbox)?
            .unwrap_or_default();

        let mut mounts = Vec::new();
        for value in flags.all("mount") {
            let budget = &self.ctx.budget;
            let scope = &self.scope;
            let mut vars = Vars::default();
            let mut expand = |word: &str| {
                let expanded = budget.word(word, scope)?;
                vars.set.extend(expanded.vars.set);
                vars.unset.extend(expanded.vars.unset);
                Ok(expanded.value)
            };
            let mut spec = parse_mount(value, &mut expand).map_err(|source| match source {
                crate::mount::MountError::Expand { value, source } => {
                    expand_error(span, &value, source)
                }
                source => LowerError::Mount { span, source },
            })?;
            self.note_unset(&vars, span);
            let from = spec.from.take().map(|name| self.ctx.source_named(&name));
            let mount = spec.into_mount(from);
            check_mount_paths(span, &mount)?;
            mounts.push(mount);
        }

        let (command, files) = if instr.heredocs.is_empty() {
            (command(instr, &instr.args), Vec::new())
        } else {
            self.heredoc_command(instr)?
        };
        for file in &files {
            check_path(span, "heredoc name", &file.name)?;
        }
        let flags_text: String = instr.flags.iter().map(|flag| format!("{flag} ")).collect();
        let shown = match (&command, instr.heredocs.is_empty()) {
            (_, false) => instr.args.join(" "),
            (command, true) => command_text(command),
        };
        let run = Run {
            command,
            files,
            mounts,
            network,
            security,
            env: self.scope.run_env(),
            proxy_env: self.ctx.args.proxy_env(),
            extra_hosts: Vec::new(),
        };
        self.push(instr, Op::Run(run), format!("RUN {flags_text}{shown}"))
    }

    /// The command of a `RUN` with heredocs.
    fn heredoc_command(&self, instr: &Instr) -> Result<(Command, Vec<InlineFile>), LowerError> {
        let [line] = instr.args.as_slice() else {
            return Err(arguments(instr, "cannot take heredocs in exec form"));
        };
        if instr.json_form {
            return Err(arguments(instr, "cannot take heredocs in exec form"));
        }
        let first = &instr.heredocs[0];
        if heredoc::marker_name(line.trim()).is_some() {
            let body = first.body();
            if body.starts_with("#!") {
                let file = InlineFile {
                    name: first.name.clone(),
                    content: body,
                };
                let path = format!("/dev/pipes/{}", first.name);
                return Ok((Command::Shell(path), vec![file]));
            }
            return Ok((Command::Shell(body), Vec::new()));
        }
        let mut script = line.clone();
        for heredoc in &instr.heredocs {
            script.push('\n');
            script.push_str(&heredoc.content);
            script.push_str(&heredoc.name);
        }
        Ok((Command::Shell(script), Vec::new()))
    }
}

/// Refuses a mount whose target or source holds a NUL byte.
fn check_mount_paths(span: Span, mount: &Mount) -> Result<(), LowerError> {
    let (target, source) = match mount {
        Mount::Bind { target, source, .. } | Mount::Cache { target, source, .. } => {
            (Some(target), Some(source))
        }
        Mount::Tmpfs { target, .. } => (Some(target), None),
        Mount::Secret { target, .. } | Mount::Ssh { target, .. } => (target.as_ref(), None),
    };
    if let Some(target) = target {
        check_path(span, "mount target", target)?;
    }
    if let Some(source) = source {
        check_path(span, "mount source", source)?;
    }
    Ok(())
}
