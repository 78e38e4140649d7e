use mkimage_plan::{Command, Copy, CopySource, InlineFile, Mount, Op, Run, Source};

use super::instr::{Heredoc, Pair};
use super::*;

/// Builds instructions one per line.
#[derive(Default)]
struct Lines(Vec<Instr>);

impl Lines {
    fn add(mut self, keyword: &str, flags: &[&str], args: &[&str]) -> Self {
        let line = self.0.len() + 1;
        let mut original = keyword.to_owned();
        for part in flags.iter().chain(args) {
            original.push(' ');
            original.push_str(part);
        }
        self.0.push(Instr {
            keyword: keyword.to_owned(),
            span: Span { line, col: 1 },
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            original,
            ..Instr::default()
        });
        self
    }

    fn i(self, keyword: &str, args: &[&str]) -> Self {
        self.add(keyword, &[], args)
    }

    fn json(mut self, keyword: &str, args: &[&str]) -> Self {
        self = self.i(keyword, args);
        self.last().json_form = true;
        self
    }

    fn pairs(mut self, keyword: &str, pairs: &[(&str, &str)]) -> Self {
        self = self.i(keyword, &[]);
        self.last().pairs = pairs
            .iter()
            .map(|(key, value)| Pair {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect();
        self
    }

    fn heredoc(mut self, name: &str, content: &str, expand: bool, chomp: bool) -> Self {
        self.last().heredocs.push(Heredoc {
            name: name.to_owned(),
            content: content.to_owned(),
            expand,
            chomp,
        });
        self
    }

    fn last(&mut self) -> &mut Instr {
        self.0.last_mut().expect("an instruction was added")
    }

    fn lower(&self, options: &LowerOptions) -> Result<Lowered, LowerError> {
        lower_instructions(&self.0, '\\', options)
    }

    fn plan(&self) -> Plan {
        self.lower(&options()).unwrap().plan
    }

    fn error(&self) -> String {
        self.lower(&options()).unwrap_err().to_string()
    }
}

fn options() -> LowerOptions {
    LowerOptions::new("linux/amd64".parse().unwrap())
}

fn ops(plan: &Plan, stage: usize) -> Vec<Op> {
    plan.stages[stage]
        .steps
        .iter()
        .map(|step| step.op.clone())
        .collect()
}

fn shell_run(plan: &Plan, stage: usize, step: usize) -> Run {
    match &plan.stages[stage].steps[step].op {
        Op::Run(run) => run.clone(),
        other => panic!("not a RUN: {other:?}"),
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, value)
}

#[test]
fn global_args_reach_from_only() {
    let plan = Lines::default()
        .i("ARG", &["IMAGE=alpine", "TAG"])
        .i("FROM", &["$IMAGE:${TAG:-3.20}"])
        .pairs("ENV", &[("I", "[$IMAGE]")])
        .i("ARG", &["IMAGE"])
        .pairs("ENV", &[("J", "[$IMAGE]")])
        .plan();
    assert_eq!(plan.stages[0].base, Base::Image("alpine:3.20".into()));
    assert_eq!(
        ops(&plan, 0),
        [
            Op::Env(vec![kv("I", "[]")]),
            Op::Env(vec![kv("J", "[alpine]")])
        ]
    );
}

#[test]
fn build_args_override_defaults() {
    let mut options = options();
    options.build_args.insert("TAG".into(), "edge".into());
    options.build_args.insert("V".into(), "2".into());
    options.build_args.insert("UNDECLARED".into(), "x".into());
    let lowered = Lines::default()
        .i("ARG", &["TAG=3.20"])
        .i("FROM", &["alpine:$TAG"])
        .i("ARG", &["V=1"])
        .i("RUN", &["echo $V $UNDECLARED"])
        .lower(&options)
        .unwrap();
    let plan = lowered.plan;
    assert_eq!(plan.stages[0].base, Base::Image("alpine:edge".into()));
    let run = shell_run(&plan, 0, 0);
    assert_eq!(run.command, Command::Shell("echo $V $UNDECLARED".into()));
    assert_eq!(run.env, [kv("V", "2")]);
}

#[test]
fn env_pairs_expand_against_the_scope_before_the_instruction() {
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .pairs("ENV", &[("A", "1")])
        .pairs("ENV", &[("A", "2"), ("B", "$A"), ("C", "${PATH}:/x")])
        .plan();
    assert_eq!(
        ops(&plan, 0)[1],
        Op::Env(vec![
            kv("A", "2"),
            kv("B", "1"),
            kv(
                "C",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/x"
            )
        ])
    );
    assert_eq!(
        plan.stages[0].steps[1].meta.text,
        "ENV A=2 B=1 C=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/x"
    );
}

#[test]
fn known_base_images_give_their_environment() {
    let mut options = options();
    options.base_images.insert(
        "golang:1.22".into(),
        BaseImage {
            env: vec![kv("PATH", "/go/bin:/usr/bin"), kv("GOPATH", "/go")],
            onbuild: Vec::new(),
        },
    );
    let lines = Lines::default()
        .i("FROM", &["golang:1.22"])
        .pairs("ENV", &[("PATH", "$PATH:$GOPATH/x")]);
    let lowered = lines.lower(&options).unwrap();
    assert_eq!(
        ops(&lowered.plan, 0),
        [Op::Env(vec![kv("PATH", "/go/bin:/usr/bin:/go/x")])]
    );
    assert!(lowered.warnings.is_empty());

    let lowered = lines.lower(&self::options()).unwrap();
    assert_eq!(
        lowered.warnings,
        [Warning {
            span: Span { line: 2, col: 1 },
            message: "`GOPATH` is not set here; if the base image `golang:1.22` sets it, its value was not known while lowering".into(),
        }]
    );
}

#[test]
fn stages_inherit_scope_from_their_base_stage() {
    let plan = Lines::default()
        .i("FROM", &["scratch", "AS", "Base"])
        .i("ARG", &["V=1"])
        .pairs("ENV", &[("E", "e")])
        .i("FROM", &["base"])
        .i("RUN", &["true"])
        .pairs("LABEL", &[("l", "$V$E")])
        .plan();
    assert_eq!(plan.stages[0].name.as_deref(), Some("base"));
    assert_eq!(plan.stages[1].base, Base::Stage(0));
    assert_eq!(shell_run(&plan, 1, 0).env, [kv("V", "1")]);
    assert_eq!(ops(&plan, 1)[1], Op::Label(vec![kv("l", "1e")]));
}

#[test]
fn from_matches_earlier_stage_names_exactly() {
    let plan = Lines::default()
        .i("FROM", &["scratch", "AS", "build"])
        .i("FROM", &["Build"])
        .plan();
    assert_eq!(plan.stages.len(), 1);
    assert_eq!(plan.stages[0].base, Base::Image("Build".into()));
}

#[test]
fn copy_from_names_indexes_and_images() {
    let plan = Lines::default()
        .i("FROM", &["scratch", "AS", "one"])
        .i("FROM", &["scratch"])
        .add("COPY", &["--from=ONE"], &["/a", "/b"])
        .add("COPY", &["--from=0"], &["/a", "/b"])
        .add("COPY", &["--from=nginx:1"], &["/a", "/b"])
        .plan();
    let from = |step: usize| match &plan.stages[1].steps[step].op {
        Op::Copy(copy) => copy.from.clone(),
        _ => unreachable!(),
    };
    assert_eq!(from(0), Source::Stage(0));
    assert_eq!(from(1), Source::Stage(0));
    assert_eq!(from(2), Source::Image("nginx:1".into()));
}

#[test]
fn later_stages_are_sorted_before_their_users() {
    let plan = Lines::default()
        .i("FROM", &["scratch", "AS", "final"])
        .add("COPY", &["--from=late"], &["/a", "/b"])
        .i("FROM", &["scratch", "AS", "late"])
        .i("RUN", &["make"])
        .lower(&LowerOptions {
            target: Some("final".into()),
            ..options()
        })
        .unwrap()
        .plan;
    assert_eq!(plan.stages[0].name.as_deref(), Some("late"));
    assert_eq!(plan.target, 1);
    assert!(matches!(&plan.stages[1].steps[0].op, Op::Copy(c) if c.from == Source::Stage(0)));
}

#[test]
fn target_prunes_unneeded_stages() {
    let lines = Lines::default()
        .i("FROM", &["scratch", "AS", "a"])
        .i("FROM", &["scratch", "AS", "b"])
        .i("FROM", &["a", "AS", "c"])
        .i("FROM", &["scratch", "AS", "d"]);
    let plan = lines
        .lower(&LowerOptions {
            target: Some("C".into()),
            ..options()
        })
        .unwrap()
        .plan;
    let names: Vec<_> = plan
        .stages
        .iter()
        .map(|s| s.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(plan.target, 1);
    assert_eq!(
        lines
            .lower(&LowerOptions {
                target: Some("bb".into()),
                ..options()
            })
            .unwrap_err()
            .to_string(),
        "target stage `bb` not found: the named stages are `a`, `b`, `c`, `d`: did you mean `b`?"
    );
}

#[test]
fn targetstage_is_the_target_as_given() {
    let lines = Lines::default()
        .i("FROM", &["scratch", "AS", "build"])
        .i("ARG", &["TARGETSTAGE"])
        .pairs("ENV", &[("STAGE", "$TARGETSTAGE")]);
    let env = |target: Option<&str>| {
        let options = LowerOptions {
            target: target.map(str::to_owned),
            ..options()
        };
        ops(&lines.lower(&options).unwrap().plan, 0)
    };
    assert_eq!(env(Some("BUILD")), [Op::Env(vec![kv("STAGE", "BUILD")])]);
    assert_eq!(env(None), [Op::Env(vec![kv("STAGE", "build")])]);
}

#[test]
fn stage_name_errors() {
    assert_eq!(
        Lines::default().i("FROM", &["scratch", "AS", "1x"]).error(),
        "1:1: invalid stage name `1x`: it must start with a letter and hold only letters, digits, `-`, `_` and `.`"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch", "AS", "a"])
            .i("FROM", &["scratch", "AS", "A"])
            .error(),
        "2:1: duplicate stage name `a`, first defined on line 1"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch", "AS", "context"])
            .error(),
        "1:1: stage name `context` is reserved"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch", "AS", "a"])
            .add("COPY", &["--from=a"], &["/x", "/y"])
            .error(),
        "1:1: circular dependency between stages, through stage `a`"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch"])
            .add("COPY", &["--from=3"], &["/x", "/y"])
            .error(),
        "2:1: `--from=3` names no stage: the Dockerfile has 1"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch"])
            .add("COPY", &["--from=$X"], &["/x", "/y"])
            .error(),
        "2:1: `--from` does not support variable expansion: define a stage with `FROM` from a global `ARG` and copy from it"
    );
}

#[test]
fn instruction_errors() {
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch"])
            .i("RUNN", &["x"])
            .error(),
        "2:1: unknown instruction `RUNN`: did you mean `RUN`?"
    );
    assert_eq!(
        Lines::default()
            .i("RUN", &["x"])
            .i("FROM", &["scratch"])
            .error(),
        "1:1: `RUN` before the first `FROM`: only `ARG` may come first"
    );
    assert_eq!(
        Lines::default().i("ARG", &["A"]).error(),
        "1:1: the Dockerfile has no `FROM`: nothing to build"
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch"])
            .i("WORKDIR", &["${X:=a}"])
            .lower(&options())
            .unwrap_err()
            .span(),
        Some(Span { line: 2, col: 1 })
    );
    assert_eq!(
        Lines::default()
            .i("ARG", &["B="])
            .i("FROM", &["$B"])
            .error(),
        "2:1: the base of `FROM $B` expands to an empty name"
    );
}

#[test]
fn copy_heredocs_are_inline_files() {
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .i("ARG", &["NAME=world"])
        .i("COPY", &["<<EOF", "<<-'RAW'", "/dst/"])
        .heredoc("EOF", "hello \"$NAME\" \\$HOME\n", true, false)
        .heredoc("RAW", "\t\tkeep $NAME\n", false, true)
        .plan();
    let Op::Copy(copy) = &plan.stages[0].steps[0].op else {
        panic!("not a copy")
    };
    assert_eq!(
        copy.sources,
        [
            CopySource::Inline(InlineFile {
                name: "EOF".into(),
                content: "hello \"world\" $HOME\n".into()
            }),
            CopySource::Inline(InlineFile {
                name: "RAW".into(),
                content: "keep $NAME\n".into()
            }),
        ]
    );
    assert_eq!(plan.stages[0].steps[0].meta.text, "COPY <<EOF <<RAW /dst/");
}

#[test]
fn run_heredocs_as_buildkit_runs_them() {
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .i("RUN", &["<<EOF"])
        .heredoc("EOF", "#!/usr/bin/env python3\nprint(1)\n", true, false)
        .i("RUN", &["<<-EOF"])
        .heredoc("EOF", "\techo a\n\techo b\n", true, true)
        .i("RUN", &["cat <<A >/a"])
        .heredoc("A", "x $Y\n", true, false)
        .plan();
    let first = shell_run(&plan, 0, 0);
    assert_eq!(first.command, Command::Shell("/dev/pipes/EOF".into()));
    assert_eq!(
        first.files,
        [InlineFile {
            name: "EOF".into(),
            content: "#!/usr/bin/env python3\nprint(1)\n".into()
        }]
    );
    assert_eq!(
        shell_run(&plan, 0, 1).command,
        Command::Shell("echo a\necho b\n".into())
    );
    assert_eq!(
        shell_run(&plan, 0, 2).command,
        Command::Shell("cat <<A >/a\nx $Y\nA".into())
    );
}

#[test]
fn run_flags_and_mounts() {
    let mut options = options();
    options
        .build_args
        .insert("http_proxy".into(), "http://proxy:3128".into());
    let plan = Lines::default()
        .i("FROM", &["scratch", "AS", "deps"])
        .i("FROM", &["scratch"])
        .i("ARG", &["CACHE=/root/.cache"])
        .add(
            "RUN",
            &[
                "--mount=type=cache,target=$CACHE",
                "--mount=from=deps,target=/deps",
                "--network=none",
                "--security=insecure",
            ],
            &["make"],
        )
        .lower(&options)
        .unwrap()
        .plan;
    let run = shell_run(&plan, 1, 0);
    assert_eq!(run.network, mkimage_plan::Network::None);
    assert_eq!(run.security, mkimage_plan::Security::Insecure);
    assert!(
        matches!(&run.mounts[0], Mount::Cache { target, id, from: None, .. }
        if target == "/root/.cache" && id == "/root/.cache")
    );
    assert!(matches!(
        &run.mounts[1],
        Mount::Bind {
            from: Source::Stage(0),
            ..
        }
    ));
    assert_eq!(run.env, [kv("CACHE", "/root/.cache")]);
    assert_eq!(
        run.proxy_env,
        [
            kv("HTTP_PROXY", "http://proxy:3128"),
            kv("http_proxy", "http://proxy:3128")
        ]
    );
    assert_eq!(
        plan.stages[1].steps[0].meta.text,
        "RUN --mount=type=cache,target=$CACHE --mount=from=deps,target=/deps --network=none --security=insecure make"
    );
}

#[test]
fn exec_forms_are_not_expanded() {
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .pairs("ENV", &[("X", "1")])
        .json("CMD", &["echo", "$X"])
        .json("ENTRYPOINT", &[])
        .json("RUN", &["echo", "$X"])
        .plan();
    assert_eq!(
        ops(&plan, 0)[1..3],
        [
            Op::Cmd(Command::Exec(vec!["echo".into(), "$X".into()])),
            Op::Entrypoint(Command::Exec(vec![])),
        ]
    );
    assert_eq!(plan.stages[0].steps[1].meta.text, "CMD [\"echo\",\"$X\"]");
}

#[test]
fn add_sources_are_classified() {
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .add(
            "ADD",
            &["--checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000"],
            &["https://example.com/a.tgz", "/x/"],
        )
        .i(
            "ADD",
            &["https://github.com/o/r.git#v1", "local.tar", "/y/"],
        )
        .plan();
    let Op::Copy(Copy { sources, add, .. }) = &plan.stages[0].steps[0].op else {
        panic!()
    };
    assert_eq!(
        sources,
        &[CopySource::Url("https://example.com/a.tgz".into())]
    );
    assert!(add.as_ref().unwrap().checksum.is_some());
    let Op::Copy(Copy { sources, .. }) = &plan.stages[0].steps[1].op else {
        panic!()
    };
    assert_eq!(
        sources,
        &[
            CopySource::Git("https://github.com/o/r.git#v1".into()),
            CopySource::Path("local.tar".into())
        ]
    );
    assert_eq!(
        Lines::default()
            .i("FROM", &["scratch"])
            .i("COPY", &["https://example.com/a", "/x"])
            .error(),
        "2:1: `COPY` cannot copy from a URL: use `ADD`"
    );
}

#[test]
fn onbuild_records_the_trigger_text() {
    let mut lines = Lines::default().i("FROM", &["scratch"]).i("ONBUILD", &[]);
    lines.last().original = "ONBUILD RUN echo $X".into();
    lines.last().sub = Some(Box::new(Instr {
        keyword: "RUN".into(),
        args: vec!["echo $X".into()],
        ..Instr::default()
    }));
    assert_eq!(ops(&lines.plan(), 0), [Op::Onbuild("RUN echo $X".into())]);
    let mut lines = Lines::default().i("FROM", &["scratch"]).i("ONBUILD", &[]);
    lines.last().sub = Some(Box::new(Instr {
        keyword: "from".into(),
        span: Span { line: 2, col: 9 },
        ..Instr::default()
    }));
    assert_eq!(
        lines.error(),
        "2:9: `FROM` is not allowed as an `ONBUILD` trigger"
    );
}

#[test]
fn config_instructions() {
    use mkimage_plan::{Healthcheck, HealthcheckOptions};
    let plan = Lines::default()
        .i("FROM", &["scratch"])
        .i("ARG", &["P=9000 9001/udp", "SIG=quit"])
        .i("EXPOSE", &["443", "$P", "80", "80/tcp"])
        .json("VOLUME", &["/data", "$SIG"])
        .i("STOPSIGNAL", &["SIG$SIG"])
        .add(
            "HEALTHCHECK",
            &["--interval=10s", "--retries=2"],
            &["CMD", "curl -f http://localhost/"],
        )
        .add("HEALTHCHECK", &["--bogus"], &["NONE"])
        .json("SHELL", &["/bin/bash", "-c"])
        .i("MAINTAINER", &["me <me@example.com>"])
        .plan();
    assert_eq!(
        ops(&plan, 0),
        [
            // Docker sorts the words as written, so `$P` comes first.
            Op::Expose(vec![
                "9000/tcp".into(),
                "9001/udp".into(),
                "443/tcp".into(),
                "80/tcp".into()
            ]),
            Op::Volume(vec!["/data".into(), "quit".into()]),
            Op::StopSignal("SIGquit".into()),
            Op::Healthcheck(Healthcheck::Check {
                test: Command::Shell("curl -f http://localhost/".into()),
                options: HealthcheckOptions {
                    interval: Some(10_000_000_000),
                    retries: Some(2),
                    ..HealthcheckOptions::default()
                }
            }),
            Op::Healthcheck(Healthcheck::None),
            Op::Shell(vec!["/bin/bash".into(), "-c".into()]),
            Op::Maintainer("me <me@example.com>".into()),
        ]
    );
    let texts: Vec<&str> = plan.stages[0]
        .steps
        .iter()
        .map(|step| step.meta.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "EXPOSE 9000/tcp 9001/udp 443/tcp 80/tcp",
            "VOLUME /data quit",
            "STOPSIGNAL SIGquit",
            "HEALTHCHECK --interval=10s --retries=2 CMD curl -f http://localhost/",
            "HEALTHCHECK NONE",
            "SHELL [\"/bin/bash\",\"-c\"]",
            "MAINTAINER me <me@example.com>",
        ]
    );
}

#[test]
fn config_instruction_errors() {
    let error = |lines: Lines| lines.error();
    let stage = || Lines::default().i("FROM", &["scratch"]);
    assert_eq!(
        error(stage().i("SHELL", &["/bin/sh -c"])),
        "2:1: `SHELL` requires its arguments in JSON form: `SHELL [\"executable\", \"parameters\"]`"
    );
    assert_eq!(
        error(stage().i("HEALTHCHECK", &["CMD"])),
        "2:1: `HEALTHCHECK` requires a command after `CMD`"
    );
    assert_eq!(
        error(stage().i("HEALTHCHECK", &["RUN", "x"])),
        "2:1: `HEALTHCHECK` takes `NONE` or options and `CMD` followed by a command"
    );
    assert_eq!(
        error(stage().i("HEALTHCHECK", &["NONE", "x"])),
        "2:1: `HEALTHCHECK` takes no arguments after `NONE`"
    );
    assert_eq!(
        error(stage().i("ARG", &["E="]).json("VOLUME", &["$E"])),
        "3:1: `VOLUME` cannot take an empty path"
    );
    assert_eq!(
        error(stage().i("WORKDIR", &["/a", "/b"])),
        "2:1: `WORKDIR` requires exactly one argument"
    );
    assert_eq!(
        error(stage().add("USER", &["--x"], &["me"])),
        "2:1: unknown flag `--x` for `USER`"
    );
    assert_eq!(
        error(stage().i("COPY", &["only"])),
        "2:1: `COPY` requires at least two arguments: one or more sources and a destination"
    );
    assert_eq!(
        error(stage().i("ARG", &["=x"])),
        "2:1: `ARG` names cannot be blank"
    );
    assert_eq!(
        error(stage().add("RUN", &["--network=bridge"], &["x"])),
        "2:1: invalid `RUN` option"
    );
    assert_eq!(
        error(stage().add("RUN", &["--mount=type=cahce"], &["x"])),
        "2:1: invalid `--mount`"
    );
    assert_eq!(
        error(stage().add("FROM", &["--platform=$NOPE"], &["scratch"])),
        "2:1: invalid `--platform`"
    );
}

#[test]
fn base_image_triggers_run_first() {
    let mut options = options();
    options.base_images.insert(
        "builder:1".into(),
        BaseImage {
            env: vec![kv("SRC", "/src")],
            onbuild: vec!["COPY . $SRC".into(), "RUN make".into()],
        },
    );
    let lines = Lines::default()
        .i("FROM", &["scratch"])
        .i("FROM", &["builder:1"])
        .i("RUN", &["true"]);
    let plan = lines.lower(&options).unwrap().plan;
    let texts: Vec<_> = plan.stages[0]
        .steps
        .iter()
        .map(|step| (step.meta.span.line, step.meta.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [(2, "COPY . /src"), (2, "RUN make"), (3, "RUN true")]
    );
    options.base_images.get_mut("builder:1").unwrap().onbuild = vec!["FROM x".into()];
    assert_eq!(
        lines.lower(&options).unwrap_err().to_string(),
        "2:1: `FROM` is not allowed as an `ONBUILD` trigger"
    );
}

#[test]
fn named_contexts_stand_for_images_stages_do_not_name() {
    let mut options = options();
    for (name, image) in [
        ("alpine", "sha256:aaaa"),
        ("docker.io/library/tools:latest", "oci:/layouts/tools:v1"),
        ("deps", "sha256:dddd"),
        ("Built", "sha256:bbbb"),
    ] {
        let named = NamedContext {
            image: image.into(),
            value: format!("value of {name}"),
        };
        options.named_contexts.insert(name.into(), named);
    }
    let lowered = Lines::default()
        .i("FROM", &["alpine:latest", "AS", "built"])
        .i("RUN", &["never run"])
        .i("FROM", &["docker.io/library/alpine"])
        .add("COPY", &["--from=tools"], &["/bin/t", "/t"])
        .add("COPY", &["--from=deps"], &["/lib", "/lib"])
        .add("COPY", &["--from=built"], &["/x", "/x"])
        .add("RUN", &["--mount=from=deps,target=/d"], &["true"])
        .lower(&options)
        .unwrap();
    let plan = &lowered.plan;
    // The stage named like a context is that image, without its instructions.
    assert_eq!(plan.stages[0].base, Base::Image("sha256:bbbb".into()));
    assert!(plan.stages[0].steps.is_empty());
    assert_eq!(plan.stages[1].base, Base::Image("sha256:aaaa".into()));
    // Progress names the context, not the image it became.
    let texts: Vec<Option<&str>> = plan.stages.iter().map(|s| s.from_text.as_deref()).collect();
    assert_eq!(
        texts,
        [
            Some("FROM value of Built (build context Built)"),
            Some("FROM value of alpine (build context alpine)"),
        ]
    );
    let froms: Vec<Source> = ops(plan, 1)
        .into_iter()
        .filter_map(|op| match op {
            Op::Copy(copy) => Some(copy.from),
            Op::Run(run) => match &run.mounts[0] {
                Mount::Bind { from, .. } => Some(from.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        froms,
        [
            Source::Image("oci:/layouts/tools:v1".into()),
            Source::Image("sha256:dddd".into()),
            Source::Stage(0),
            Source::Image("sha256:dddd".into()),
        ]
    );
}

/// Lowers Dockerfile text with the default options.
fn lower_text(text: &str) -> Result<Lowered, LowerError> {
    lower(&crate::parse(text).unwrap(), &options())
}

// See: issue 13
#[test]
fn variables_cannot_make_the_plan_grow_without_bound() {
    // Doubling a value forty times would take a terabyte.
    let doubling = format!(
        "FROM scratch\nARG A=0123456789abcdef\n{}",
        "ARG A=$A$A\n".repeat(40)
    );
    let error = lower_text(&doubling).unwrap_err();
    // 16 bytes doubled 21 times is 32 MiB, which passes 64 MiB with the values before.
    assert_eq!(
        error.to_string(),
        "23:1: the Dockerfile expands to more than 64 MiB of text"
    );
    // One long argument copied into many steps (built without parsing a long line, which
    // takes long in a debug build).
    let long = format!("A={}", "x".repeat(1 << 20));
    let mut copies = Lines::default().i("FROM", &["scratch"]).i("ARG", &[&long]);
    for _ in 0..100 {
        copies = copies.i("RUN", &["true"]);
    }
    assert!(matches!(
        copies.lower(&options()).unwrap_err(),
        LowerError::TooMuchText { span, limit: PLAN_TEXT_LIMIT } if span.line > 40 && span.line < 70
    ));
    // One long argument copied into the scope of many stages.
    let mut stages = Lines::default()
        .i("FROM", &["scratch", "AS", "s0"])
        .i("ARG", &[&long]);
    for i in 1..100 {
        stages = stages.i("FROM", &[&format!("s{}", i - 1), "AS", &format!("s{i}")]);
    }
    assert!(matches!(
        stages.lower(&options()).unwrap_err(),
        LowerError::TooMuchText { .. }
    ));
    // A word that repeats a variable is stopped before it is built.
    let repeated = Lines::default()
        .i("FROM", &["scratch"])
        .i("ARG", &[&long])
        .pairs("ENV", &[("B", &"$A".repeat(1000))]);
    assert_eq!(
        repeated.error(),
        "3:1: the Dockerfile expands to more than 64 MiB of text"
    );
}

// See: issue 13
#[test]
fn a_config_too_large_fails_at_its_instruction() {
    let label = |size: usize| format!("a={}", "x".repeat(size));
    // The value is in the labels and, with `LABEL a=`, in the history.
    let error = Lines::default()
        .i("FROM", &["scratch"])
        .pairs("LABEL", &[("a", &"x".repeat(10 << 20))])
        .error();
    assert_eq!(
        error,
        "2:1: the image config of this stage would be larger than the 16 MiB an image config may hold"
    );
    // What a stage inherits from its base stage counts too.
    let inherited = Lines::default()
        .i("FROM", &["scratch", "AS", "base"])
        .i("RUN", &[&label(6 << 20)])
        .i("FROM", &["base"])
        .i("RUN", &[&label(6 << 20)])
        .i("RUN", &[&label(6 << 20)]);
    assert_eq!(
        inherited.error(),
        "5:1: the image config of this stage would be larger than the 16 MiB an image config may hold"
    );
    // Just below the limit is fine.
    Lines::default()
        .i("FROM", &["scratch"])
        .pairs("LABEL", &[("a", &"x".repeat((8 << 20) - 64))])
        .plan();
}

// See: issue 13
#[test]
fn a_nul_byte_in_a_path_is_an_error_at_its_instruction() {
    let cases = [
        (
            Lines::default().i("COPY", &["a", "/x\0y"]),
            "the destination `/x\0y` contains a NUL byte",
        ),
        (
            Lines::default().i("ADD", &["a\0b", "/x/"]),
            "the source `a\0b` contains a NUL byte",
        ),
        (
            Lines::default().add("COPY", &["--exclude=*\0"], &["a", "/x/"]),
            "the `--exclude` pattern `*\0` contains a NUL byte",
        ),
        (
            Lines::default().i("WORKDIR", &["/w\0"]),
            "the working directory `/w\0` contains a NUL byte",
        ),
        (
            Lines::default().i("VOLUME", &["/v", "/v\0"]),
            "the volume `/v\0` contains a NUL byte",
        ),
        (
            Lines::default().add("RUN", &["--mount=type=cache,target=/c\0"], &["true"]),
            "the mount target `/c\0` contains a NUL byte",
        ),
        (
            Lines::default().add("RUN", &["--mount=target=/c,source=s\0"], &["true"]),
            "the mount source `s\0` contains a NUL byte",
        ),
    ];
    for (lines, message) in cases {
        let lines = Lines::default()
            .i("FROM", &["scratch"])
            .0
            .into_iter()
            .chain(lines.0);
        let mut all = Lines(lines.collect());
        for (index, instr) in all.0.iter_mut().enumerate() {
            instr.span.line = index + 1;
        }
        assert_eq!(all.error(), format!("2:1: {message}"));
    }
    // Where the NUL comes from a variable, as from a base image's `ENV`.
    let expanded = Lines::default()
        .i("FROM", &["scratch"])
        .pairs("ENV", &[("D", "/x\0")])
        .i("COPY", &["a", "$D"]);
    assert_eq!(
        expanded.error(),
        "3:1: the destination `/x\0` contains a NUL byte"
    );
}

// See: issue 13
#[test]
fn long_chains_of_stages_and_many_variables_lower() {
    // Stage references and argument lookups were quadratic: this took minutes.
    let mut chain = Lines::default().i("FROM", &["scratch", "AS", "s0"]);
    for index in 1..4000 {
        chain = chain.i(
            "FROM",
            &[&format!("s{}", index - 1), "AS", &format!("s{index}")],
        );
    }
    chain = chain.add("COPY", &["--from=s0"], &["/a", "/b"]);
    let plan = chain.plan();
    assert_eq!(plan.stages.len(), 4000);
    assert_eq!(plan.stages[3999].base, Base::Stage(3998));
    assert_eq!(plan.stages[3999].dependencies(), [0, 3998]);

    let mut args = Lines::default().i("FROM", &["scratch"]);
    for index in 0..100_000 {
        args = args.i("ARG", &[&format!("A{index}={index}")]);
    }
    args = args.i("ARG", &["A0=again"]).i("RUN", &["true"]);
    let run = shell_run(&args.plan(), 0, 0);
    assert_eq!(run.env.len(), 100_000);
    assert_eq!(run.env[0], kv("A1", "1"));
    assert_eq!(run.env[99_999], kv("A0", "again"));
}
