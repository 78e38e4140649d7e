use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The environment most cases run against: `NULL` is set but empty, `XXX` is unset.
fn home() -> BTreeMap<String, String> {
    env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ])
}

fn word(text: &str) -> Result<String, ExpandError> {
    Expander::default().word(text, &home()).map(|e| e.value)
}

fn words(text: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>, ExpandError> {
    Expander::default().words(text, env).map(|e| e.value)
}

#[track_caller]
fn assert_words(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        assert_eq!(word(text).as_deref(), Ok(*expected), "input {text:?}");
    }
}

#[track_caller]
fn assert_errors(cases: &[&str]) {
    for text in cases {
        assert!(word(text).is_err(), "input {text:?} gave {:?}", word(text));
    }
}

#[test]
fn quotes_are_removed() {
    assert_words(&[
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("\"hel'lo\"", "hel'lo"),
        ("'\"hello\"'", "\"hello\""),
        ("\"''\"", "''"),
        ("안'녕'하세요", "안녕하세요"),
    ]);
    assert_errors(&["he'llo", "\"hello", "'hello", "안'녕하세요"]);
}

#[test]
fn escapes_outside_quotes_make_the_next_character_literal() {
    assert_words(&[
        ("he\\'llo", "he'llo"),
        ("abc\\tdef", "abctdef"),
        ("hello\\", "hello"),
        ("hello\\\\", "hello\\"),
        ("he\\$PWD", "he$PWD"),
        ("he\\\\$PWD", "he\\/home"),
        ("\\${}", "${}"),
        ("he\\${}xx", "he${}xx"),
        ("안녕\\'하세요", "안녕'하세요"),
    ]);
    assert_errors(&["he\\\\'llo"]);
}

#[test]
fn double_quotes_escape_only_quote_dollar_and_escape() {
    assert_words(&[
        ("\"abc\\tdef\"", "abc\\tdef"),
        ("\"abc\\\\tdef\"", "abc\\tdef"),
        ("\"he\\$PWD\"", "he$PWD"),
        ("\"he\\\\$PWD\"", "he\\/home"),
        ("\"a\\\"b\"", "a\"b"),
        ("\"he${PWD}\"", "he/home"),
        ("\"he'$PWD'\"", "he'/home'"),
    ]);
    assert_errors(&["\"hello\\\""]);
}

#[test]
fn single_quotes_keep_everything() {
    assert_words(&[
        ("'abc\\tdef'", "abc\\tdef"),
        ("'hello\\'", "hello\\"),
        ("'hello\\\\there'", "hello\\\\there"),
        ("'$PWD'", "$PWD"),
        ("'\\$PWD'", "\\$PWD"),
        ("'he${XX}'", "he${XX}"),
    ]);
}

#[test]
fn plain_references() {
    assert_words(&[
        ("he$PWD", "he/home"),
        ("he${PWD}", "he/home"),
        ("he${hi}xx", "hexx"),
        ("he$pwd.", "he."),
        ("$KOREAN", "한국어"),
        ("안녕$KOREAN", "안녕한국어"),
        ("${aaa}}", "}"),
    ]);
}

#[test]
fn dollar_without_a_name_is_literal() {
    assert_words(&[
        ("$.", "$."),
        ("he$.x", "he$.x"),
        ("$", "$"),
        ("a$ b", "a$ b"),
        ("a$\"b\"", "a$b"),
        ("$/x", "$/x"),
    ]);
}

#[test]
fn positional_and_special_parameters_are_unset() {
    for name in [
        "1", "2", "9", "999", "001", "@", "*", "#", "?", "-", "$", "!", "0",
    ] {
        assert_eq!(word(&format!("${name}")).unwrap(), "", "${name}");
        assert_eq!(word(&format!("${{{name}}}")).unwrap(), "", "${{{name}}}");
        assert_eq!(word(&format!("${{{name}:+bbb}}")).unwrap(), "", "{name}");
        assert_eq!(word(&format!("${{{name}:-bbb}}aaa")).unwrap(), "bbbaaa");
    }
    assert_words(&[
        ("he$1x", "hex"),
        ("$999aaa", "aaa"),
        ("$001aaa", "aaa"),
        ("$@@@", "@@"),
        ("$@aaa", "aaa"),
    ]);
}

#[test]
fn bad_substitutions() {
    assert_errors(&[
        "${}",
        "${}aaa",
        "he${}xx",
        "he${.}",
        "${{aaa}",
        "${aaa",
        "${{aaa:-bbb}",
        "${aaa:-bbb",
        "${aaa:-bbb ${foo}",
        "${:}",
        "${:-bbb}",
        "${:+bbb}",
        "he${PWD",
        "${X:",
        "${X:}",
    ]);
}

#[test]
fn default_value_with_and_without_colon() {
    assert_words(&[
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("${NULL:-d}", "d"),
        ("${XXX-d}", "d"),
        ("${NULL-d}", ""),
        ("${PWD-d}", "/home"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("${aaa:-bbb}}", "bbb}"),
        ("${aaa:-bbb {foo}", "bbb {foo"),
        ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
        ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
        ("${XXX:-\"a }\"}", "a }"),
        ("${XXX:-'$PWD'}", "$PWD"),
        ("${XXX:-}", ""),
    ]);
}

#[test]
fn alternative_value_with_and_without_colon() {
    assert_words(&[
        ("he${XXX:+${PWD}}xx", "hexx"),
        ("he${PWD:+${XXX}}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+000}xx", "he000xx"),
        ("he${PWD:+${PWD}:}xx", "he/home:xx"),
        ("${NULL:+x}", ""),
        ("${NULL+x}", "x"),
        ("${XXX+x}", ""),
    ]);
}

#[test]
fn required_value_with_and_without_colon() {
    assert_words(&[
        ("he${PWD?}", "he/home"),
        ("he${PWD:?}", "he/home"),
        ("he${NULL?}", "he"),
    ]);
    let err = |text: &str| word(text).unwrap_err().to_string();
    assert_eq!(err("${XXX?}"), "variable `XXX` is not allowed to be unset");
    assert_eq!(err("${XXX:?}"), "variable `XXX` is not allowed to be unset");
    assert_eq!(
        err("${NULL:?}"),
        "variable `NULL` is not allowed to be empty"
    );
    assert_eq!(err("${NULL:?set $SHELL}"), "variable `NULL`: set bash");
    assert_eq!(err("${XXX?need it}"), "variable `XXX`: need it");
}

#[test]
fn required_message_is_expanded() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Result<&'a str, ()>);
    let cases: [Case; 6] = [
        (
            &[("VAR", "plain"), ("ARG", "x")],
            "${VAR:?message here$ARG}",
            Ok("plain"),
        ),
        (
            &[("VAR", ""), ("ARG", "x")],
            "${VAR:?message here$ARG}",
            Err(()),
        ),
        (&[("ARG", "x")], "${VAR:?message here$ARG}", Err(())),
        (
            &[("VAR", "plain"), ("ARG", "x")],
            "${VAR?message here$ARG}",
            Ok("plain"),
        ),
        (
            &[("VAR", ""), ("ARG", "x")],
            "${VAR?message here$ARG}",
            Ok(""),
        ),
        (&[("ARG", "x")], "${VAR?message here$ARG}", Err(())),
    ];
    for (pairs, text, expected) in cases {
        let result = Expander::default().word(text, &env(pairs));
        match expected {
            Ok(value) => assert_eq!(result.unwrap().value, value),
            Err(()) => assert_eq!(
                result.unwrap_err().to_string(),
                "variable `VAR`: message herex"
            ),
        }
    }
}

#[test]
fn trimming_prefixes_and_suffixes() {
    let e = |pairs: &[(&str, &str)], text: &str| {
        Expander::default()
            .word(text, &env(pairs))
            .map(|e| e.value)
            .unwrap()
    };
    fn foo(value: &str) -> [(&str, &str); 1] {
        [("FOO", value)]
    }
    assert_eq!(
        e(&foo("()[]{}^$.*?|\\x"), "${FOO#()[]{\\}^$.\\*\\?|\\\\}"),
        "x"
    );
    assert_eq!(e(&foo("xx**"), "${FOO%%\\**}"), "xx");
    assert_eq!(e(&foo("xxyy"), "${FOO#*x*y}"), "y");
    assert_eq!(e(&foo("xxyy"), "${FOO#*}"), "xxyy");
    assert_eq!(e(&[("FOO", "xxyy"), ("BAR", "x")], "${FOO#$BAR}"), "xyy");
    assert_eq!(e(&[("FOO", "xxyy"), ("BAR", "")], "${FOO#$BAR}"), "xxyy");
    assert_eq!(e(&foo("xxyy"), "${FOO#}"), "xxyy");
    assert_eq!(e(&foo("xxyy"), "${FOO##*x}"), "yy");
    assert_eq!(e(&foo("xxyy"), "${FOO##}"), "xxyy");
    assert_eq!(e(&foo("???y"), "${FOO#?\\?}"), "?y");
    assert_eq!(e(&foo("xxyy"), "${ABC:-.}${FOO%x}${ABC:-.}"), ".xxyy.");
    assert_eq!(e(&foo("a***yy*"), "${FOO%%\\**\\*}"), "a");
    assert_eq!(e(&foo("xxyy"), "${FOO%}"), "xxyy");
    assert_eq!(e(&[("FOO", "xxyy"), ("BAR", "")], "${FOO%%$BAR}"), "xxyy");
    assert_eq!(e(&foo("v1.2.3"), "${FOO#v}"), "1.2.3");
    assert_eq!(e(&foo("v1.2.3"), "${FOO%.*}"), "v1.2");
    assert_eq!(e(&foo("v1.2.3"), "${FOO%%.*}"), "v1");
    assert_eq!(e(&[], "${FOO#x}"), "");
    // Quotes in a pattern are removed; the pattern stays a glob, as in Docker.
    assert_eq!(e(&foo("a*b"), "${FOO#\"*\"}"), "a*b");
    assert_eq!(e(&foo("ab b"), "${FOO#'ab '}"), "b");
}

#[test]
fn colon_before_pattern_modifiers_is_unsupported() {
    for text in ["${FOO:#}", "${FOO:##}", "${FOO:%}", "${FOO:%%}"] {
        assert!(
            matches!(
                word(text),
                Err(ExpandError::UnsupportedModifier { ref modifier, .. })
                    if modifier == &text[5..7]
            ),
            "{text}"
        );
    }
}

#[test]
fn replacing_patterns() {
    let e = |pairs: &[(&str, &str)], text: &str| {
        Expander::default().word(text, &env(pairs)).map(|e| e.value)
    };
    assert_eq!(
        e(
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}"
        ),
        Ok("/foo.*/*.txt - /foo..*.txt".to_owned())
    );
    assert_eq!(
        e(
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}"
        ),
        Ok("/tmp/bar.txt - /bar.txt".to_owned())
    );
    assert_eq!(
        e(
            &[("FOO", "/a/foo/b/c.txt"), ("N", "/?/"), ("R", "/")],
            "${FOO/$N/$R} - ${FOO//$N/$R}"
        ),
        Ok("/foo/b/c.txt - /foo/c.txt".to_owned())
    );
    assert_eq!(
        e(
            &[
                ("FOO", "http://google.de"),
                ("N", "http://"),
                ("R", "https://")
            ],
            "${FOO/$N/$R}"
        ),
        Ok("https://google.de".to_owned())
    );
    // Escaped separators: the replacement keeps its backslashes, as in Docker.
    assert_eq!(
        e(&[("FOO", "/tmp/foo.txt")], "${FOO//\\//\\/}"),
        Ok("\\/tmp\\/foo.txt".to_owned())
    );
    assert_eq!(
        e(&[("FOO", "xxyy"), ("BAR", "")], "${FOO/$BAR/ww}"),
        Ok("wwxxyy".to_owned())
    );
    assert_eq!(e(&[("FOO", "xxyy")], "${FOO///}"), Ok("xxyy".to_owned()));
    assert_eq!(e(&[], "${FOO///}"), Ok(String::new()));
    assert_eq!(
        e(&[("FOO", "a.b.c")], "${FOO//./-}"),
        Ok("a-b-c".to_owned())
    );
    assert_eq!(
        e(&[("FOO", "xxyy")], "${FOO//ww}"),
        Err(ExpandError::MissingSlash {
            name: "FOO".into(),
            at: 0
        })
    );
    assert!(e(&[("FOO", "xxyy")], "${FOO//}").is_err());
    assert!(e(&[("FOO", "xxyy")], "${FOO/a}").is_err());
}

#[test]
fn platform_release_names() {
    let text =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
    ];
    let with = |variant: Option<&str>| {
        let mut pairs = base.to_vec();
        pairs.extend(variant.map(|v| ("TARGETVARIANT", v)));
        Expander::default().word(text, &env(&pairs)).unwrap().value
    };
    assert_eq!(with(Some("v7")), "something-v1.2.3.linux-arm-v7.tar.gz");
    assert_eq!(with(Some("")), "something-v1.2.3.linux-arm.tar.gz");
    assert_eq!(with(None), "something-v1.2.3.linux-arm.tar.gz");
}

#[test]
fn assignments_are_errors() {
    assert_eq!(
        word("he${PWD:=000}xx").unwrap_err(),
        ExpandError::Assignment {
            modifier: ":=".into(),
            name: "PWD".into(),
            at: 2
        }
    );
    assert_eq!(
        word("${FOO=aaa}").unwrap_err().to_string(),
        "unsupported modifier `=` in `${FOO=…}`: a Dockerfile cannot assign variables, use `ARG` or `ENV`"
    );
    assert!(word("${FOO=:aaa}").is_err());
    assert!(word("${FOO=}").is_err());
}

#[test]
fn errors_name_the_problem_and_its_offset() {
    let cases: &[(&str, &str, usize)] = &[
        (
            "ab${XXX:YYY}",
            "unsupported modifier `:Y` in `${XXX:Y…}`: expected `}`, `-`, `:-`, `+`, `:+`, `?`, `:?`, `#`, `##`, `%`, `%%`, `/` or `//`",
            2,
        ),
        (
            "${#V}",
            "unsupported modifier `V` in `${#V…}`: expected `}`, `-`, `:-`, `+`, `:+`, `?`, `:?`, `#`, `##`, `%`, `%%`, `/` or `//`",
            0,
        ),
        (
            "x ${}",
            "bad substitution: expected a variable name after `${`",
            2,
        ),
        ("x${X:-a", "`${` is not closed by `}`", 1),
        ("x${X", "`${` is not closed by `}`", 1),
        ("x${", "`${` is not closed by `}`", 1),
        ("ab'cd", "missing closing `'`", 2),
        ("a\"b${X:-'c}\"", "missing closing `'`", 8),
        ("x${V/a}", "missing `/` after the pattern in `${V/…}`", 1),
        (
            "x${PWD#a\\b}",
            "invalid escape `\\b` in pattern `a\\b`: only `\\*`, `\\?`, `\\\\`, `\\}` and `\\/` are escapes",
            1,
        ),
    ];
    for (text, message, offset) in cases {
        let error = word(text).unwrap_err();
        assert_eq!(&error.to_string(), message, "{text}");
        assert_eq!(error.offset(), *offset, "{text}");
    }
}

#[test]
fn modifier_words_are_expanded_even_when_not_used() {
    assert_eq!(
        word("${PWD:-${XXX:?gone}}").unwrap_err().to_string(),
        "variable `XXX`: gone"
    );
}

#[test]
fn escaped_quotes_in_patterns_stay_escaped() {
    // Inside a pattern Docker keeps escapes, also in double quotes, where the backslash
    // before a character it does not escape is then written twice: `"\*"` becomes the
    // pattern `\\*`, a literal backslash and a lazy star.
    let e = env(&[("FOO", "\\*x")]);
    assert_eq!(
        Expander::default()
            .word("${FOO#\"\\*\"}", &e)
            .unwrap()
            .value,
        "*x"
    );
}

#[test]
fn backtick_escape() {
    let expander = Expander::new('`');
    let e = home();
    let w = |text: &str| expander.word(text, &e).map(|e| e.value);
    assert_eq!(w("a`$PWD").unwrap(), "a$PWD");
    assert_eq!(w("a\\$PWD").unwrap(), "a\\/home");
    assert_eq!(w("C:\\path\\to").unwrap(), "C:\\path\\to");
    assert_eq!(w("\"a`\"b\\\"").unwrap(), "a\"b\\");
    assert_eq!(w("a` b").unwrap(), "a b");
    assert_eq!(
        expander.words("a` b c\\ d", &e).unwrap().value,
        ["a b", "c\\", "d"]
    );
    // In patterns only the backslash escapes.
    let star = env(&[("FOO", "a*b")]);
    assert_eq!(expander.word("${FOO#a\\*}", &star).unwrap().value, "b");
}

#[test]
fn keep_quotes_leaves_quotes_alone() {
    let expander = Expander::default().keep_quotes();
    let e = home();
    let w = |text: &str| expander.word(text, &e).unwrap().value;
    assert_eq!(w("echo \"$PWD\" '$SHELL'\n"), "echo \"/home\" 'bash'\n");
    assert_eq!(w("it's \\$PWD \\\\"), "it's $PWD \\");
    assert_eq!(w("${XXX:-\"}"), "\"");
}

#[test]
fn words_split_on_unquoted_whitespace() {
    let mut e = env(&[]);
    let cases: Vec<(&str, &[&str])> = vec![
        ("hello", &["hello"]),
        ("hello${hi}bye", &["hellobye"]),
        ("hello there     ", &["hello", "there"]),
        ("  hello \t there\n", &["hello", "there"]),
        ("hello\\ there", &["hello there"]),
        ("hello\\\" there", &["hello\"", "there"]),
        ("hello\" there  \"", &["hello there  "]),
        ("hello\"\\\\there\"", &["hello\\there"]),
        ("hello\"\\there\"", &["hello\\there"]),
        ("hello'\\\\there'", &["hello\\\\there"]),
        ("hello'$there'", &["hello$there"]),
        ("", &[]),
        ("   ", &[]),
    ];
    for (text, expected) in &cases {
        assert_eq!(&words(text, &e).unwrap(), expected, "{text:?}");
    }
    assert!(words("hello\" there", &e).is_err());

    e.insert("hi".into(), "hi".into());
    e.insert("space".into(), "abc  def".into());
    e.insert("leading".into(), "  ab c".into());
    e.insert("trailing".into(), "ab c   ".into());
    let cases: Vec<(&str, &[&str])> = vec![
        ("hello${hi}bye", &["hellohibye"]),
        ("hello${space}bye", &["helloabc", "defbye"]),
        ("hello\"${space}\"bye", &["helloabc  defbye"]),
        ("hello \"${space}\"bye", &["hello", "abc  defbye"]),
        ("hello${leading}def", &["hello", "ab", "cdef"]),
        ("hello\"${leading}\" def", &["hello  ab c", "def"]),
        ("hello\"${leading}\"", &["hello  ab c"]),
        ("hello${leading}", &["hello", "ab", "c"]),
        ("hello${trailing}", &["helloab", "c"]),
        ("hello${trailing}d", &["helloab", "c", "d"]),
        ("hello\"${trailing}\"d", &["helloab c   d"]),
        ("hel\"lo${trailing}\"", &["helloab c   "]),
    ];
    for (text, expected) in &cases {
        assert_eq!(&words(text, &e).unwrap(), expected, "{text:?}");
    }
}

#[test]
fn empty_quotes_make_no_word() {
    // Docker drops an empty quoted string when splitting (`EXPOSE 80 ""` exposes 80).
    let e = env(&[("E", "")]);
    assert_eq!(words("a \"\" b ''", &e).unwrap(), ["a", "b"]);
    assert_eq!(words("\"$E\"", &e).unwrap(), Vec::<String>::new());
    assert_eq!(words("a\"\"b", &e).unwrap(), ["ab"]);
}

#[test]
fn nested_words_keep_the_text_before_them() {
    let e = env(&[("X", "8080")]);
    assert_eq!(
        words("80${X:+/udp} 1${Y:-2 3}4", &e).unwrap(),
        ["80/udp", "12", "34"]
    );
}

#[test]
fn heredoc_markers_keep_their_blanks() {
    let e = env(&[]);
    assert_eq!(
        words("cat << EOF <<-\tX a<b", &e).unwrap(),
        ["cat", "<< EOF", "<<-", "X", "a<b"]
    );
    assert_eq!(word("cat << EOF").unwrap(), "cat << EOF");
}

#[test]
fn referenced_variables_are_reported() {
    let e = env(&[("FOO", "xxx"), ("BAR", "")]);
    let vars = |text: &str| {
        let vars = Expander::default().word(text, &e).unwrap().vars;
        (
            vars.set.into_iter().collect::<Vec<_>>(),
            vars.unset.into_iter().collect::<Vec<_>>(),
        )
    };
    assert_eq!(vars("x"), (vec![], vec![]));
    assert_eq!(vars("x ${UNUSED}"), (vec![], vec!["UNUSED".to_owned()]));
    assert_eq!(
        vars("${FOO-aaa} ${BAR:-bbb} ${BAZ+ccc} $1"),
        (
            vec!["BAR".to_owned(), "FOO".to_owned()],
            vec!["1".to_owned(), "BAZ".to_owned()]
        )
    );
    // A branch not taken still counts.
    assert_eq!(
        vars("${FOO:-$BAZ}"),
        (vec!["FOO".to_owned()], vec!["BAZ".to_owned()])
    );
    assert_eq!(vars("'$FOO' \\$BAR"), (vec![], vec![]));
    let split = Expander::default().words("$FOO \"$NOPE\"", &e).unwrap();
    assert_eq!(split.value, ["xxx"]);
    assert!(split.vars.set.contains("FOO") && split.vars.unset.contains("NOPE"));
}

/// Runs `f` on a thread with a small stack (1 MiB, an eighth of the main thread's), so
/// that unbounded recursion overflows it: a debug build takes about 5 KiB a level.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .expect("spawn a thread")
        .join()
        .expect("no panic, no overflow")
}

// See: issue 13
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep =
        |open: &str, levels: usize| format!("a{}x{}", open.repeat(levels), "}".repeat(levels));
    for open in ["${A:-", "${A+", "\"${A:-", "${A/x/", "${A#"] {
        let text = deep(open, 100_000);
        let error = on_small_stack(move || word(&text)).unwrap_err();
        assert_eq!(
            error,
            ExpandError::TooDeep {
                limit: MAX_DEPTH,
                at: 1 + open.len() * MAX_DEPTH + open.find('$').unwrap_or(0),
            },
            "{open}"
        );
        assert_eq!(
            error.to_string(),
            "`${…}` is nested more than 64 levels deep",
        );
    }
    // Up to the limit, it expands.
    let text = deep("${A:-", MAX_DEPTH);
    assert_eq!(on_small_stack(move || word(&text)), Ok("ax".to_owned()));
}

// See: issue 13
#[test]
fn a_limit_stops_expansions_before_they_grow_past_it() {
    let long = "x".repeat(1000);
    let env = env(&[("A", &long)]);
    let limited = Expander::default().limit(4000);
    // Four copies fit; the fifth `$A` (at offset 8) would pass the limit.
    assert_eq!(limited.word("$A$A$A$A", &env).unwrap().value.len(), 4000);
    assert_eq!(
        limited.word("$A$A$A$A$A", &env).unwrap_err(),
        ExpandError::TooLong { limit: 4000, at: 8 }
    );
    assert_eq!(
        limited
            .words("\"${A}\" ${B:-$A$A$A$A$A}", &env)
            .unwrap_err(),
        ExpandError::TooLong {
            limit: 4000,
            at: 20
        }
    );
    // Replacing each of a thousand characters by a thousand makes a million.
    let error = limited.word("${A//?/$A}", &env).unwrap_err();
    assert_eq!(error, ExpandError::TooLong { limit: 4000, at: 0 });
    assert_eq!(
        error.to_string(),
        "the expanded text is longer than 4000 bytes"
    );
}

// See: issue 13
#[test]
fn a_limit_counts_the_text_before_a_quote() {
    let long = "x".repeat(1000);
    let env = env(&[("A", &long)]);
    let limited = Expander::default().limit(4000);
    // Each quoted `$A` fits alone; the fifth (its `$` at offset 17) passes the limit.
    assert_eq!(
        limited.word(&"\"$A\"".repeat(4), &env).unwrap().value.len(),
        4000
    );
    assert_eq!(
        limited.word(&"\"$A\"".repeat(5), &env).unwrap_err(),
        ExpandError::TooLong {
            limit: 4000,
            at: 17
        }
    );
    assert_eq!(
        limited.word("$A\"$A$A$A$A\"", &env).unwrap_err(),
        ExpandError::TooLong { limit: 4000, at: 9 }
    );
}
