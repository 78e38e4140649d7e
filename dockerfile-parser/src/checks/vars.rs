//! `UndefinedVar`: a variable used before any `ARG` or `ENV` of the stage, or its base,
//! sets it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, Layout, StageView, arg_keys, rules::UNDEFINED_VAR};
use crate::args::Scope;
use crate::ast::{Arguments, Instruction, Keyword};
use crate::expand::Expander;
use crate::lower::LowerOptions;
use crate::suggest;

/// The names a stage knows, or `None` when its base image's environment is unknown.
type Known = Option<BTreeSet<String>>;

/// Evaluates `UndefinedVar` in every stage whose base's environment is known.
pub(super) fn check(
    layout: &Layout<'_>,
    expander: &Expander,
    options: &LowerOptions,
    found: &mut Vec<Check>,
) {
    let globals = super::from::globals(layout, expander, options, &options.build_args);
    let mut ends: Vec<Known> = Vec::with_capacity(layout.stages.len());
    for (index, stage) in layout.stages.iter().enumerate() {
        let known = match stage.base_stage(&layout.stages[..index]) {
            Some(parent) => ends[parent].clone(),
            None => base_names(stage, expander, options, &globals),
        };
        let known = known.map(|mut known| {
            for instruction in &stage.body {
                instruction_vars(instruction, expander, &mut known, found);
            }
            known
        });
        ends.push(known);
    }
}

/// The names in the environment of the stage's base image (Docker's `PATH` included):
/// `scratch`'s or an image's listed in the options; `None` for an image not listed.
fn base_names(
    stage: &StageView<'_>,
    expander: &Expander,
    options: &LowerOptions,
    globals: &Scope,
) -> Known {
    let base = expander.word(stage.base()?, globals).ok()?.value;
    let mut names: BTreeSet<String> = if base == "scratch" {
        BTreeSet::new()
    } else {
        let image = options.base_images.get(&base)?;
        image.env.iter().map(|pair| pair.key.clone()).collect()
    };
    names.insert("PATH".to_owned());
    Some(names)
}

/// Checks the words `instruction` expands, then adds the names it sets to `known`.
fn instruction_vars(
    instruction: &Instruction,
    expander: &Expander,
    known: &mut BTreeSet<String>,
    found: &mut Vec<Check>,
) {
    let words: Vec<&str> = match (&instruction.kind, &instruction.args) {
        (Keyword::Env | Keyword::Label, Arguments::Pairs(pairs)) => pairs
            .iter()
            .flat_map(|pair| [pair.key.as_str(), pair.value.as_str()])
            .collect(),
        (Keyword::Arg, _) => instruction
            .arg_strings()
            .into_iter()
            .filter_map(|arg| arg.split_once('=').map(|(_, default)| default))
            .collect(),
        (
            Keyword::Add
            | Keyword::Copy
            | Keyword::Expose
            | Keyword::User
            | Keyword::Volume
            | Keyword::Workdir
            | Keyword::Stopsignal,
            _,
        ) => instruction.arg_strings(),
        _ => Vec::new(),
    };
    let env: BTreeMap<String, String> = known
        .iter()
        .map(|name| (name.clone(), String::new()))
        .collect();
    let mut reported = BTreeSet::new();
    for word in words {
        let Ok(expanded) = expander.word(word, &env) else {
            continue;
        };
        for name in expanded.vars.unset {
            if reported.contains(&name) {
                continue;
            }
            let candidates: Vec<&String> = known.iter().collect();
            let mut message = format!("Usage of undefined variable '${name}'");
            if let Some(suggestion) = suggest::closest(&name, &candidates) {
                message.push_str(&format!(" (did you mean ${suggestion}?)"));
            }
            found.push(Check::new(&UNDEFINED_VAR, message, instruction.span));
            reported.insert(name);
        }
    }
    match (&instruction.kind, &instruction.args) {
        (Keyword::Env, Arguments::Pairs(pairs)) => {
            known.extend(pairs.iter().map(|pair| pair.key.clone()));
        }
        (Keyword::Arg, _) => known.extend(arg_keys(instruction).into_iter().map(str::to_owned)),
        _ => {}
    }
}
