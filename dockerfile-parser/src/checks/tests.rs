use std::collections::BTreeMap;

use mkimage_plan::KeyValue;

use super::*;
use crate::lower::BaseImage;
use crate::parse;

/// What fires on `text`, as `(rule, line, message)`, with `alpine` known to set `PATH`
/// only and every rule on (experimental ones included).
fn fired(text: &str) -> Vec<(&'static str, usize, String)> {
    let mut options = LowerOptions::new("linux/amd64".parse().expect("a platform"));
    options.base_images = BTreeMap::from([(
        "alpine".to_owned(),
        BaseImage {
            env: vec![KeyValue::new("PATH", "/bin")],
            onbuild: Vec::new(),
        },
    )]);
    let dockerfile = parse(text).expect("the case parses");
    check(&dockerfile, text, &options)
        .into_iter()
        .map(|check| (check.rule.name, check.span.line, check.message))
        .collect()
}

/// One Dockerfile per rule that fires, with what it reports.
const FIRES: &[(&str, &str, usize, &str)] = &[
    (
        "StageNameCasing",
        "FROM alpine AS Builder\n",
        1,
        "Stage name 'Builder' should be lowercase",
    ),
    (
        "FromAsCasing",
        "FROM alpine as base\n",
        1,
        "'as' and 'FROM' keywords' casing do not match",
    ),
    (
        "NoEmptyContinuation",
        "FROM alpine\nRUN a \\\n\nb\n",
        2,
        "Empty continuation line",
    ),
    (
        "ConsistentInstructionCasing",
        "FROM alpine\nRUN a\nrun b\n",
        3,
        "Command 'run' should match the case of the command majority (uppercase)",
    ),
    (
        "DuplicateStageName",
        "FROM alpine AS a\nFROM alpine AS a\n",
        2,
        "Duplicate stage name \"a\", stage names should be unique",
    ),
    (
        "ReservedStageName",
        "FROM alpine AS context\n",
        1,
        "Stage name should not use the same name as reserved stage \"context\"",
    ),
    (
        "JSONArgsRecommended",
        "FROM alpine\nCMD echo hi\n",
        2,
        "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
    ),
    (
        "MaintainerDeprecated",
        "FROM alpine\nMAINTAINER me\n",
        2,
        "Maintainer instruction is deprecated in favor of using label",
    ),
    (
        "UndefinedArgInFrom",
        "ARG VERSION=1\nFROM alpine:$VERSON\n",
        2,
        "FROM argument 'VERSON' is not declared (did you mean VERSION?)",
    ),
    (
        "WorkdirRelativePath",
        "FROM alpine\nWORKDIR app\n",
        2,
        "Relative workdir \"app\" can have unexpected results if the base image changes",
    ),
    (
        "UndefinedVar",
        "FROM alpine\nENV APP_DIR=/a\nCOPY $APP_DRI /x\n",
        3,
        "Usage of undefined variable '$APP_DRI' (did you mean $APP_DIR?)",
    ),
    (
        "MultipleInstructionsDisallowed",
        "FROM alpine\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
        2,
        "Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used",
    ),
    (
        "LegacyKeyValueFormat",
        "FROM alpine\nLABEL k v\n",
        2,
        "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format",
    ),
    (
        "RedundantTargetPlatform",
        "FROM --platform=$TARGETPLATFORM alpine\n",
        1,
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    ),
    (
        "SecretsUsedInArgOrEnv",
        "FROM alpine\nARG GITHUB_TOKEN\n",
        2,
        "Do not use ARG or ENV instructions for sensitive data (ARG \"GITHUB_TOKEN\")",
    ),
    (
        "InvalidDefaultArgInFrom",
        "ARG TAG\nFROM alpine:${TAG}\n",
        2,
        "Default value for ARG alpine:${TAG} results in empty or invalid base image name",
    ),
    (
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=linux/arm64 alpine AS build\n",
        1,
        "FROM --platform flag should not use constant value \"linux/arm64\"",
    ),
    (
        "InvalidDefinitionDescription",
        "# the base\nFROM alpine AS base\n",
        2,
        "Comment for FROM should follow the format: `# base <description>`",
    ),
    (
        "ExposeProtoCasing",
        "FROM alpine\nEXPOSE 80/TCP\n",
        2,
        "Defined protocol '80/TCP' in EXPOSE instruction should be lowercase",
    ),
    (
        "ExposeInvalidFormat",
        "FROM alpine\nEXPOSE 127.0.0.1:80:80\n",
        2,
        "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'",
    ),
];

/// For each rule, a Dockerfile close to firing it that must not.
const NEAR_MISSES: &[(&str, &str)] = &[
    ("StageNameCasing", "FROM alpine AS builder\n"),
    ("FromAsCasing", "from alpine as base\n"),
    ("NoEmptyContinuation", "FROM alpine\nRUN a \\\n# note\nb\n"),
    ("ConsistentInstructionCasing", "from alpine\nrun a\nrun b\n"),
    ("DuplicateStageName", "FROM alpine AS a\nFROM alpine AS b\n"),
    ("ReservedStageName", "FROM alpine AS contexts\n"),
    (
        "JSONArgsRecommended",
        "FROM alpine\nSHELL [\"/bin/sh\", \"-c\"]\nCMD echo hi\n",
    ),
    ("MaintainerDeprecated", "FROM alpine\nLABEL maintainer=me\n"),
    (
        "UndefinedArgInFrom",
        "ARG VERSION=1\nFROM alpine:$VERSION\n",
    ),
    (
        "WorkdirRelativePath",
        "FROM alpine\nWORKDIR /app\nWORKDIR app\n",
    ),
    (
        "UndefinedVar",
        "FROM alpine\nARG A\nENV B=$A\nCOPY $B$PATH /x\nRUN echo $NOT_CHECKED\n",
    ),
    (
        "MultipleInstructionsDisallowed",
        "FROM alpine\nENTRYPOINT [\"a\"]\nFROM alpine\nENTRYPOINT [\"b\"]\n",
    ),
    ("LegacyKeyValueFormat", "FROM alpine\nLABEL k=v\n"),
    (
        "RedundantTargetPlatform",
        "FROM --platform=$BUILDPLATFORM alpine\n",
    ),
    (
        "SecretsUsedInArgOrEnv",
        "FROM alpine\nARG PUBLIC_KEY\nENV TOKENS=1\n",
    ),
    ("InvalidDefaultArgInFrom", "ARG TAG=3\nFROM alpine:${TAG}\n"),
    (
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=linux/arm64 alpine AS build-arm64\n",
    ),
    (
        "InvalidDefinitionDescription",
        "# base is the base\nFROM alpine AS base\n\n# a note\n\nARG A\n",
    ),
    ("ExposeProtoCasing", "FROM alpine\nEXPOSE 80/tcp\n"),
    ("ExposeInvalidFormat", "FROM alpine\nEXPOSE 80/udp\n"),
];

#[test]
fn each_rule_fires_on_its_case() {
    for (rule, text, line, message) in FIRES {
        let fired = fired(text);
        assert!(
            fired.contains(&(rule, *line, (*message).to_owned())),
            "{rule}: {fired:?}"
        );
    }
}

#[test]
fn no_rule_fires_on_its_near_miss() {
    for (rule, text) in NEAR_MISSES {
        let fired = fired(text);
        assert!(
            fired.iter().all(|(name, ..)| name != rule),
            "{rule}: {fired:?}"
        );
    }
}

/// `CopyIgnoredFile` reads the context and has its own test.
#[test]
fn every_rule_has_a_case_and_a_near_miss() {
    for rule in RULES.iter().filter(|rule| rule.name != "CopyIgnoredFile") {
        assert!(
            FIRES.iter().any(|case| case.0 == rule.name),
            "{}",
            rule.name
        );
        assert!(
            NEAR_MISSES.iter().any(|case| case.0 == rule.name),
            "{}",
            rule.name
        );
    }
}

#[test]
fn undefined_var_is_not_checked_on_an_unknown_base() {
    assert_eq!(fired("FROM unknown\nCOPY $X /x\n"), []);
}

#[test]
fn experimental_rules_are_off_unless_named() {
    let text = "# the base\nFROM alpine AS base\n";
    let checks = check(
        &parse(text).unwrap(),
        text,
        &LowerOptions::new("linux/amd64".parse().unwrap()),
    );
    assert_eq!(CheckConfig::default().select(checks.clone()), []);
    let on: CheckConfig = "experimental=InvalidDefinitionDescription".parse().unwrap();
    assert_eq!(on.select(checks).len(), 1);
}

#[test]
fn skip_names_rules_or_all() {
    let text = "FROM alpine AS Builder\nMAINTAINER me\n";
    let checks = check(
        &parse(text).unwrap(),
        text,
        &LowerOptions::new("linux/amd64".parse().unwrap()),
    );
    let skip: CheckConfig = "skip=StageNameCasing".parse().unwrap();
    let names: Vec<&str> = skip
        .select(checks.clone())
        .iter()
        .map(|c| c.rule.name)
        .collect();
    assert_eq!(names, ["MaintainerDeprecated"]);
    let all: CheckConfig = "skip=all".parse().unwrap();
    assert_eq!(all.select(checks), []);
}

#[test]
fn copy_of_an_ignored_file() {
    let text = "FROM alpine\nCOPY secret.txt ./keep /\nCOPY --from=other secret.txt /\nADD . /\n";
    let dockerfile = parse(text).unwrap();
    let found = copy_ignored(&dockerfile, &|path| path == "secret.txt");
    let found: Vec<(usize, &str)> = found
        .iter()
        .map(|c| (c.span.line, c.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [(
            2,
            "Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore"
        )]
    );
}
