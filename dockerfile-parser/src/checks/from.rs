//! The rules about `FROM` lines and the `ARG`s before the first one.

use std::collections::{BTreeMap, BTreeSet};

use mkimage_plan::Reference;

use super::{Check, Layout, StageView, arg_keys, flag, rules::*};
use crate::args::{Args, Scope};
use crate::expand::{Expanded, Expander};
use crate::lower::LowerOptions;
use crate::platform::parse_platform;
use crate::suggest;

/// Stage names BuildKit reserves.
const RESERVED: [&str; 2] = ["context", "scratch"];

/// Evaluates the `FROM` rules of every stage.
pub(super) fn check(
    layout: &Layout<'_>,
    expander: &Expander,
    options: &LowerOptions,
    found: &mut Vec<Check>,
) {
    let mut names = BTreeSet::new();
    for stage in &layout.stages {
        casing(stage, found);
        if let Some(name) = stage.name().map(str::to_ascii_lowercase) {
            let span = stage.from.span;
            if RESERVED.contains(&name.as_str()) {
                let message =
                    format!("Stage name should not use the same name as reserved stage {name:?}");
                found.push(Check::new(&RESERVED_STAGE_NAME, message, span));
            }
            if !names.insert(name.clone()) {
                let message =
                    format!("Duplicate stage name {name:?}, stage names should be unique");
                found.push(Check::new(&DUPLICATE_STAGE_NAME, message, span));
            }
        }
    }
    let defaults = globals(layout, expander, options, &BTreeMap::new());
    for stage in &layout.stages {
        invalid_default(stage, expander, &defaults, found);
    }
    let globals = globals(layout, expander, options, &options.build_args);
    let mut declared: BTreeSet<String> = globals.names().map(str::to_owned).collect();
    declared.extend(
        layout
            .globals
            .iter()
            .flat_map(|arg| arg_keys(arg))
            .map(str::to_owned),
    );
    for stage in &layout.stages {
        if let Some(base) = stage.base() {
            undefined(stage, expander.word(base, &globals).ok(), &declared, found);
        }
        if let Some(platform) = flag(stage.from, "platform") {
            let expanded = expander.word(platform, &globals).ok();
            platform_rules(stage, platform, expanded.as_ref(), &globals, options, found);
            undefined(stage, expanded, &declared, found);
        }
    }
}

/// `StageNameCasing` and `FromAsCasing`.
fn casing(stage: &StageView<'_>, found: &mut Vec<Check>) {
    let Some(name) = stage.name() else { return };
    let span = stage.from.span;
    if name != name.to_lowercase() {
        let message = format!("Stage name '{name}' should be lowercase");
        found.push(Check::new(&STAGE_NAME_CASING, message, span));
    }
    let from = stage.from.keyword.as_str();
    let as_word = stage.from.arg_strings()[1];
    let mismatch = if from == from.to_lowercase() {
        as_word != as_word.to_lowercase()
    } else if from == from.to_uppercase() {
        as_word != as_word.to_uppercase()
    } else {
        false
    };
    if mismatch {
        let message = format!("'{as_word}' and '{from}' keywords' casing do not match");
        found.push(Check::new(&FROM_AS_CASING, message, span));
    }
}

/// The global scope: the predefined arguments and the global `ARG`s, with `build_args`.
pub(super) fn globals(
    layout: &Layout<'_>,
    expander: &Expander,
    options: &LowerOptions,
    build_args: &BTreeMap<String, String>,
) -> Scope {
    let target = match &options.target {
        Some(target) => target.clone(),
        None => layout
            .stages
            .last()
            .and_then(StageView::name)
            .unwrap_or_default()
            .to_owned(),
    };
    let mut args = Args::new(
        build_args.clone(),
        &options.target_platform,
        &options.build_platform,
        &target,
    );
    for instruction in &layout.globals {
        for arg in instruction.arg_strings() {
            let (key, default) = match arg.split_once('=') {
                Some((key, default)) => (key, Some(default)),
                None => (arg, None),
            };
            let mut expand = |text: &str, scope: &Scope| {
                expander.word(text, scope).map(|expanded| expanded.value)
            };
            // A default that does not expand fails lowering, which says why.
            let _ignored = args.declare_global(key, default, &mut expand);
        }
    }
    args.globals().clone()
}

/// `InvalidDefaultArgInFrom`: the base, with the `ARG` defaults only, is no reference.
fn invalid_default(
    stage: &StageView<'_>,
    expander: &Expander,
    defaults: &Scope,
    found: &mut Vec<Check>,
) {
    let Some(base) = stage.base() else { return };
    let Ok(expanded) = expander.word(base, defaults) else {
        return;
    };
    if expanded.value.is_empty() || expanded.value.parse::<Reference>().is_err() {
        let message =
            format!("Default value for ARG {base} results in empty or invalid base image name");
        found.push(Check::new(
            &INVALID_DEFAULT_ARG_IN_FROM,
            message,
            stage.from.span,
        ));
    }
}

/// `UndefinedArgInFrom`: a variable of the `FROM` line that no `ARG` declares.
fn undefined(
    stage: &StageView<'_>,
    expanded: Option<Expanded<String>>,
    declared: &BTreeSet<String>,
    found: &mut Vec<Check>,
) {
    let Some(expanded) = expanded else { return };
    let candidates: Vec<&String> = declared.iter().collect();
    for name in expanded
        .vars
        .unset
        .iter()
        .filter(|n| !declared.contains(*n))
    {
        let mut message = format!("FROM argument '{name}' is not declared");
        if let Some(suggestion) = suggest::closest(name, &candidates) {
            message.push_str(&format!(" (did you mean {suggestion}?)"));
        }
        found.push(Check::new(&UNDEFINED_ARG_IN_FROM, message, stage.from.span));
    }
}

/// `RedundantTargetPlatform` and `FromPlatformFlagConstDisallowed`.
fn platform_rules(
    stage: &StageView<'_>,
    raw: &str,
    expanded: Option<&Expanded<String>>,
    globals: &Scope,
    options: &LowerOptions,
    found: &mut Vec<Check>,
) {
    let Some(expanded) = expanded else { return };
    let span = stage.from.span;
    let vars = &expanded.vars;
    if vars.unset.is_empty()
        && vars.set.len() == 1
        && vars.set.contains("TARGETPLATFORM")
        && Some(expanded.value.as_str()) == crate::expand::Env::get(globals, "TARGETPLATFORM")
    {
        let message = format!(
            "Setting platform to predefined {raw} in FROM is redundant as this is the default behavior"
        );
        found.push(Check::new(&REDUNDANT_TARGET_PLATFORM, message, span));
    }
    if !vars.set.is_empty() || !vars.unset.is_empty() {
        return;
    }
    let Ok(platform) = parse_platform(&expanded.value, &options.build_platform) else {
        return;
    };
    let name = stage.name().unwrap_or_default();
    if !name.contains(platform.os()) && !name.contains(platform.architecture()) {
        let message = format!(
            "FROM --platform flag should not use constant value {:?}",
            expanded.value
        );
        found.push(Check::new(
            &FROM_PLATFORM_FLAG_CONST_DISALLOWED,
            message,
            span,
        ));
    }
}
