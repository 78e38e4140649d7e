//! Everything the CLI prints: results, progress and the final error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mkimage_core::frontend::Warning;
use mkimage_core::plan::Plan;
use mkimage_core::{Events, RequestRef, Retry, StepRef, Stream, TaskRef};

use crate::excerpt;
use crate::human;
use crate::located::Located;

/// Prints one line of output to stdout.
///
/// # Errors
///
/// When stdout cannot be written (a closed pipe, a full disk).
pub(crate) fn line(text: &str) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")
}

/// After a build, the build checks that fired, as BuildKit sums them up on stderr:
/// ` N warnings found …:` then ` - Rule: message (line N)`.
pub(crate) fn check_summary(warnings: &[Warning]) {
    let checks: Vec<_> = warnings.iter().filter_map(check_parts).collect();
    if checks.is_empty() {
        return;
    }
    let plural = if checks.len() == 1 { "" } else { "s" };
    eprintln!(
        " {} warning{plural} found (use mkimage build --check to see their documentation):",
        checks.len()
    );
    for (_, line, rule, _, message) in checks {
        eprintln!(" - {rule}: {message} (line {line})");
    }
}

/// What `mkimage build --check` prints on stdout, as `docker build --check` does; returns
/// whether any check fired.
pub(crate) fn check_report(warnings: &[Warning]) -> std::io::Result<bool> {
    let checks: Vec<_> = warnings.iter().filter_map(check_parts).collect();
    let mut out = std::io::stdout().lock();
    if checks.is_empty() {
        writeln!(out, "Check complete, no warnings found.")?;
        return Ok(false);
    }
    let plural = if checks.len() == 1 { " has" } else { "s have" };
    writeln!(
        out,
        "Check complete, {} warning{plural} been found!",
        checks.len()
    )?;
    for (file, line, rule, url, message) in checks {
        writeln!(out, "WARN: {rule} - {url}\n{message}\n{file}:{line}")?;
    }
    Ok(true)
}

/// The file, line, rule, URL and message of a build check.
fn check_parts(warning: &Warning) -> Option<(&str, usize, &str, &str, &str)> {
    match warning {
        Warning::Check {
            file,
            line,
            rule,
            url,
            message,
            ..
        } => Some((file, *line, rule, url, message)),
        _ => None,
    }
}

/// Prints rows as columns aligned like docker's tables: each column as wide as its
/// widest cell plus three spaces and at least ten, the last one unpadded.
///
/// # Errors
///
/// When stdout cannot be written.
pub(crate) fn table(rows: &[Vec<String>]) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut text = String::new();
        for (c, cell) in row.iter().enumerate() {
            text.push_str(cell);
            if c + 1 < row.len() {
                let pad = (widths[c] + 3).max(10) - cell.chars().count();
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// Prints a JSON value indented by four spaces, as docker's `inspect` does.
///
/// # Errors
///
/// When stdout cannot be written.
pub(crate) fn json(value: &serde_json::Value) -> std::io::Result<()> {
    use serde::Serialize as _;
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value
        .serialize(&mut serializer)
        .map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    std::io::stdout().lock().write_all(&bytes)
}

/// Prints a warning to stderr.
pub(crate) fn warning(text: &str) {
    eprintln!("warning: {}", excerpt::message(text));
}

/// Prints an error and its causes to stderr; an error in a file also shows the line
/// and a caret under the column.
pub(crate) fn error(error: &anyhow::Error) {
    // A reader that stopped reading (`mkimage parse | head`) is not an error to report.
    if let Some(io) = error.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return;
    }
    eprintln!("error: {}", excerpt::message(&error.to_string()));
    if let Some(located) = error.downcast_ref::<Located>() {
        snippet(located);
    }
    for cause in error.chain().skip(1) {
        eprintln!("caused by: {}", excerpt::message(&cause.to_string()));
    }
}

/// The source line of a located error (the part around the column, for a long one),
/// with a caret under its column:
/// ```text
///   |
/// 7 | CMD ["echo", 1]
///   |              ^
/// ```
fn snippet(located: &Located) {
    let number = located.at.line.to_string();
    let gutter = " ".repeat(number.len());
    let (line, col) = excerpt::around(&located.at.source_line, located.at.col);
    // Tabs are shown as they are, and the caret's padding copies them so it lines up.
    let pad: String = line
        .chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    eprintln!("{gutter} |");
    eprintln!("{number} | {line}");
    eprintln!("{gutter} | {pad}^");
}

/// A step as a progress line names it, its text and stage name cut when long.
fn shown(step: &StepRef) -> String {
    StepRef {
        stage_name: step
            .stage_name
            .as_deref()
            .map(|name| excerpt::excerpt(name).into_owned()),
        text: excerpt::excerpt(&step.text).into_owned(),
        ..step.clone()
    }
    .to_string()
}

/// Build events for `--quiet`: only the warnings, on stderr.
pub(crate) struct Quiet;

impl Events for Quiet {
    fn warning(&self, message: &str) {
        warning(message);
    }
}

/// Build progress on stderr, one line per event, as BuildKit's plain output shows it:
/// `#3 [stage-0 2/4] COPY . /app`, then `#3 CACHED` or `#3 DONE 0.1s`.
pub(crate) struct Progress {
    /// How many builds started: named contexts are built before the Dockerfile, each
    /// with stages and steps counted from 0.
    builds: AtomicUsize,
    /// The number of each step shown, by build, stage and step index.
    numbers: Mutex<HashMap<(usize, usize, usize), usize>>,
    /// The unfinished last line of each running step's output.
    partial: Mutex<HashMap<usize, Vec<u8>>>,
}

impl Progress {
    /// A progress display with no step shown yet.
    pub(crate) fn new() -> Progress {
        Progress {
            builds: AtomicUsize::new(0),
            numbers: Mutex::new(HashMap::new()),
            partial: Mutex::new(HashMap::new()),
        }
    }

    /// Prints the complete lines of `bytes` after what step `number` printed before,
    /// each as `#N line`; with `flush`, the unfinished rest too.
    fn output_lines(&self, number: usize, bytes: &[u8], flush: bool) {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let buffer = partial.entry(number).or_default();
        buffer.extend_from_slice(bytes);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            eprintln!("#{number} {}", String::from_utf8_lossy(&line[..end]));
        }
        if flush {
            if !buffer.is_empty() {
                eprintln!("#{number} {}", String::from_utf8_lossy(buffer));
            }
            partial.remove(&number);
        }
    }

    /// The number of `step`, given the next one when it is new.
    fn number(&self, step: &StepRef) -> usize {
        let mut numbers = self
            .numbers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = numbers.len() + 1;
        let build = self.builds.load(Ordering::Relaxed);
        *numbers
            .entry((build, step.stage, step.step))
            .or_insert(next)
    }
}

impl Events for Progress {
    fn build_started(&self, _plan: &Plan) {
        self.builds.fetch_add(1, Ordering::Relaxed);
    }

    fn step_started(&self, step: &StepRef) {
        eprintln!("#{} {}", self.number(step), shown(step));
    }

    fn step_cached(&self, step: &StepRef) {
        eprintln!("#{} CACHED", self.number(step));
    }

    fn step_imported(&self, step: &StepRef, source: &str) {
        eprintln!("#{} CACHED (from {source})", self.number(step));
    }

    fn step_output(&self, step: &StepRef, _stream: Stream, bytes: &[u8]) {
        self.output_lines(self.number(step), bytes, false);
    }

    fn step_finished(&self, step: &StepRef, elapsed: Duration) {
        self.output_lines(self.number(step), &[], true);
        eprintln!("#{} DONE {:.1}s", self.number(step), elapsed.as_secs_f64());
    }

    fn layer_reused(&self, step: &StepRef, reused: u64) {
        eprintln!("#{} {}", self.number(step), reused_text(reused));
    }

    fn warning(&self, message: &str) {
        warning(message);
    }

    fn request_waiting(&self, request: &RequestRef, waited: Duration) {
        eprintln!("{}", waiting_text(request, waited));
    }

    fn request_retrying(&self, request: &RequestRef, retry: &Retry) {
        eprintln!("{}", retry_text(request, retry));
    }
}

/// `waiting 10s for manifest `registry.example/app:1``, long values cut (a download's
/// URL is as long as the Dockerfile makes it).
fn waiting_text(request: &RequestRef, waited: Duration) -> String {
    excerpt::message(&format!(
        "waiting {} for {request}",
        humantime::format_duration(waited)
    ))
}

/// ``retrying manifest `registry.example/app:1` (2/4) in 500ms: the server answered HTTP 503``
/// with long values (a URL, the server's message) cut.
fn retry_text(request: &RequestRef, retry: &Retry) -> String {
    excerpt::message(&format!(
        "retrying {request} ({}/{}) in {}: {}",
        retry.attempt,
        retry.attempts,
        humantime::format_duration(retry.delay),
        retry.reason
    ))
}

/// Progress of pulls and pushes on stderr: a bar per blob, drawn only on a terminal, and
/// a line per wait for a server and per retry, above the bars or plain.
pub(crate) struct Transfers {
    bars: indicatif::MultiProgress,
    tasks: Mutex<HashMap<TaskRef, indicatif::ProgressBar>>,
    quiet: bool,
}

impl Transfers {
    /// Progress shown on stderr, or nowhere when `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet {
            indicatif::ProgressDrawTarget::hidden()
        } else {
            indicatif::ProgressDrawTarget::stderr()
        };
        Transfers {
            bars: indicatif::MultiProgress::with_draw_target(target),
            tasks: Mutex::default(),
            quiet,
        }
    }

    /// Prints a line above the bars on a terminal, else as it is; nothing when quiet.
    fn note(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.bars.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.bars.println(text);
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<TaskRef, indicatif::ProgressBar>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Events for Transfers {
    fn task_started(&self, task: &TaskRef, total: Option<u64>) {
        let bar = self
            .bars
            .add(indicatif::ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:24} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(excerpt::excerpt(&task.label).into_owned());
        self.tasks().insert(task.clone(), bar);
    }

    fn task_progress(&self, task: &TaskRef, done: u64) {
        if let Some(bar) = self.tasks().get(task) {
            bar.set_position(done);
        }
    }

    fn task_finished(&self, task: &TaskRef) {
        if let Some(bar) = self.tasks().remove(task) {
            bar.finish();
        }
    }

    fn warning(&self, message: &str) {
        let _ = self
            .bars
            .println(format!("warning: {}", excerpt::message(message)));
    }

    fn request_waiting(&self, request: &RequestRef, waited: Duration) {
        self.note(&waiting_text(request, waited));
    }

    fn request_retrying(&self, request: &RequestRef, retry: &Retry) {
        self.note(&retry_text(request, retry));
    }
}

/// How many lines of a running step's output the terminal display keeps under it.
const TAIL_LINES: usize = 6;

/// Build progress on a terminal, as BuildKit's tty output shows it: a line per step with
/// a spinner and its time, the last lines of its output beneath it while it runs, collapsed
/// to `DONE 0.1s` or `CACHED` once it ends. A step still running when the display is
/// dropped (the build failed) keeps its output on screen. Transfers (pulls of base images)
/// get a bar each.
pub(crate) struct StepBars {
    bars: indicatif::MultiProgress,
    steps: Mutex<HashMap<(usize, usize), StepBar>>,
    /// The number of steps shown so far.
    shown: AtomicUsize,
    transfers: Transfers,
}

/// One step's line on the terminal.
struct StepBar {
    bar: indicatif::ProgressBar,
    /// Output not yet ended by a newline.
    partial: Vec<u8>,
    /// The last complete lines of output.
    tail: VecDeque<String>,
    /// What the step's layer took from its earlier build, for the end of the line.
    reused: Option<String>,
}

/// What a step's layer took from the layer of its earlier build.
fn reused_text(reused: u64) -> String {
    format!(
        "reused the compressed form of {} from the last build",
        human::size(reused)
    )
}

impl StepBars {
    /// A display drawing on stderr.
    pub(crate) fn new() -> StepBars {
        let transfers = Transfers::new(false);
        StepBars {
            bars: transfers.bars.clone(),
            steps: Mutex::default(),
            shown: AtomicUsize::new(0),
            transfers,
        }
    }

    fn steps(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, usize), StepBar>> {
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends `step`'s line with `status` in place of its spinner and output.
    fn end(&self, step: &StepRef, status: &str) {
        if let Some(line) = self.steps().remove(&(step.stage, step.step)) {
            line.bar.set_style(
                indicatif::ProgressStyle::with_template("{prefix} {msg}")
                    .expect("the template is valid"),
            );
            let status = match line.reused {
                Some(reused) => format!("{status} ({reused})"),
                None => status.to_string(),
            };
            line.bar.finish_with_message(status);
        }
    }
}

impl Events for StepBars {
    fn step_started(&self, step: &StepRef) {
        let number = self.shown.fetch_add(1, Ordering::Relaxed) + 1;
        let bar = self.bars.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix} {elapsed}{msg}")
                .expect("the template is valid"),
        );
        bar.set_prefix(format!("#{number} {}", shown(step)));
        bar.enable_steady_tick(Duration::from_millis(120));
        let line = StepBar {
            bar,
            partial: Vec::new(),
            tail: VecDeque::new(),
            reused: None,
        };
        self.steps().insert((step.stage, step.step), line);
    }

    fn step_cached(&self, step: &StepRef) {
        self.end(step, "CACHED");
    }

    fn step_imported(&self, step: &StepRef, source: &str) {
        self.end(step, &format!("CACHED (from {source})"));
    }

    fn step_output(&self, step: &StepRef, _stream: Stream, bytes: &[u8]) {
        let mut steps = self.steps();
        let Some(line) = steps.get_mut(&(step.stage, step.step)) else {
            return;
        };
        line.partial.extend_from_slice(bytes);
        while let Some(end) = line.partial.iter().position(|&b| b == b'\n') {
            let text: Vec<u8> = line.partial.drain(..=end).collect();
            if line.tail.len() == TAIL_LINES {
                line.tail.pop_front();
            }
            line.tail
                .push_back(String::from_utf8_lossy(&text[..end]).into_owned());
        }
        let shown: String = line.tail.iter().map(|l| format!("\n  {l}")).collect();
        line.bar.set_message(shown);
    }

    fn step_finished(&self, step: &StepRef, elapsed: Duration) {
        self.end(step, &format!("DONE {:.1}s", elapsed.as_secs_f64()));
    }

    fn layer_reused(&self, step: &StepRef, reused: u64) {
        if let Some(line) = self.steps().get_mut(&(step.stage, step.step)) {
            line.reused = Some(reused_text(reused));
        }
    }

    fn task_started(&self, task: &TaskRef, total: Option<u64>) {
        self.transfers.task_started(task, total);
    }

    fn task_progress(&self, task: &TaskRef, done: u64) {
        self.transfers.task_progress(task, done);
    }

    /// A finished transfer leaves the screen: the step it belongs to says what came of it.
    fn task_finished(&self, task: &TaskRef) {
        if let Some(bar) = self.transfers.tasks().remove(task) {
            bar.finish_and_clear();
        }
    }

    fn warning(&self, message: &str) {
        self.transfers.warning(message);
    }

    fn request_waiting(&self, request: &RequestRef, waited: Duration) {
        self.transfers.request_waiting(request, waited);
    }

    fn request_retrying(&self, request: &RequestRef, retry: &Retry) {
        self.transfers.request_retrying(request, retry);
    }
}

impl Drop for StepBars {
    /// Leaves the steps that did not end (a failed build) on screen, output included.
    fn drop(&mut self) {
        for (_, line) in self.steps().drain() {
            line.bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // See: issue 13
    #[test]
    fn waits_and_retries_cut_a_long_url() {
        let url = format!("https://h/{}", "a".repeat(1 << 20));
        let request = RequestRef {
            label: format!("download of `{url}`"),
        };
        let shown = excerpt::excerpt(&url);
        assert!(shown.len() < 300, "{shown}");
        assert_eq!(
            waiting_text(&request, Duration::from_secs(5)),
            format!("waiting 5s for download of `{shown}`")
        );
        let retry = Retry {
            attempt: 2,
            attempts: 4,
            delay: Duration::from_millis(500),
            reason: "the server answered HTTP 503".to_owned(),
        };
        assert_eq!(
            retry_text(&request, &retry),
            format!("retrying download of `{shown}` (2/4) in 500ms: the server answered HTTP 503")
        );
    }
}
