//! `mkimage build --build-context`: named contexts from a directory, an image of the
//! store, an OCI layout and a git repository.

use std::fs;
use std::path::Path;

use mkimage_core::testutil::HttpServer;

use crate::build::{build, fixture, ok, tool};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn named_contexts_stand_for_stages_bases_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // An image of the store, and the same kind of image as an OCI layout.
    write(
        &dir.path().join("img/Dockerfile"),
        "FROM scratch\nCOPY b.txt /\n",
    );
    write(&dir.path().join("img/b.txt"), "from the store\n");
    ok(&build(&root, &["-q", "-t", "img:1", &path("img")]));
    write(&dir.path().join("img/b.txt"), "from a layout\n");
    let archive = path("layout.tar");
    let image = ok(&build(
        &root,
        &[
            "-q",
            "-o",
            &format!("type=oci,dest={archive}"),
            &path("img"),
        ],
    ));
    fs::create_dir(path("layout")).unwrap();
    tool("tar", &["-xf", &archive, "-C", &path("layout")]);

    // A directory with its own .dockerignore.
    write(&dir.path().join("deps/a.txt"), "from a directory\n");
    write(&dir.path().join("deps/ignored.txt"), "ignored\n");
    write(&dir.path().join("deps/.dockerignore"), "ignored.txt\n");

    // A git repository served over HTTP.
    let served = served_repo(dir.path());
    let server = HttpServer::start(&served).unwrap();

    write(
        &dir.path().join("ctx/Dockerfile"),
        "FROM scratch AS replaced\nRUN exit 1\n\
         FROM deps\n\
         COPY --from=replaced /b.txt /from-store.txt\n\
         COPY --from=layout /b.txt /from-layout.txt\n\
         COPY --from=repo /sub/a.txt /from-git.txt\n",
    );
    let contexts = [
        "replaced=docker-image://img:1".to_owned(),
        format!("layout=oci-layout://{}@{}", path("layout"), image.trim()),
        format!("deps={}", path("deps")),
        format!("repo={}/repo.git#v1", server.base()),
    ];
    let mut args = vec!["-q".to_owned()];
    for context in &contexts {
        args.extend(["--build-context".to_owned(), context.clone()]);
    }
    args.extend([
        "-o".to_owned(),
        format!("type=local,dest={}", path("out")),
        path("ctx"),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = ok(&build(&root, &args));
    let read = |name: &str| fs::read_to_string(dir.path().join("out").join(name)).unwrap();
    assert_eq!(read("a.txt"), "from a directory\n");
    assert!(!dir.path().join("out/ignored.txt").exists());
    assert_eq!(read("from-store.txt"), "from the store\n");
    assert_eq!(read("from-layout.txt"), "from a layout\n");
    assert_eq!(read("from-git.txt"), "in a subdirectory\n");

    // Unchanged contexts give the same images again, so every step hits the cache.
    let again = build(&root, &args[1..]);
    assert_eq!(ok(&again), first);
    let progress = String::from_utf8_lossy(&again.stderr);
    assert_eq!(progress.matches("CACHED").count(), 5, "{progress}");
    // Stages based on a context show it, not the id of the image it became.
    let froms: Vec<&str> = progress
        .lines()
        .filter(|line| line.contains("] FROM "))
        .map(|line| line.split_once("] ").unwrap().1)
        .collect();
    assert_eq!(
        froms,
        [
            "FROM docker-image://img:1 (build context replaced)".to_owned(),
            format!("FROM {} (build context deps)", path("deps")),
        ],
        "{progress}"
    );
    // Each step has its own number, those of the contexts' builds too.
    let started: Vec<&str> = progress
        .lines()
        .filter(|line| line.contains(" ["))
        .map(|line| line.split_once(' ').unwrap().0)
        .collect();
    let mut unique = started.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!((started.len(), unique.len()), (7, 7), "{progress}");
}

#[test]
fn git_and_http_named_contexts() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let served = served_repo(dir.path());
    write(&dir.path().join("notes/n.txt"), "in a tarball\n");
    tool(
        "tar",
        &[
            "-cf",
            served.join("notes.tar").to_str().unwrap(),
            "-C",
            &path("notes"),
            "n.txt",
        ],
    );
    // Its `Last-Modified`, which the file keeps; it is not extracted.
    tool(
        "touch",
        &[
            "-d",
            "@1700000000",
            served.join("notes.tar").to_str().unwrap(),
        ],
    );
    let server = HttpServer::start(&served).unwrap();
    write(
        &dir.path().join("ctx/Dockerfile"),
        "FROM repo\nCOPY --from=sub a.txt /from-sub.txt\nCOPY --from=file /context /notes\n",
    );
    let repo = format!("{}/repo.git", server.base());
    let out = path("out.tar");
    let output = build(
        &dir.path().join("store"),
        &[
            "--build-context",
            &format!("repo={repo}#v1"),
            "--build-context",
            &format!("sub={repo}#main:sub"),
            "--build-context",
            &format!("file={}/notes.tar", server.base()),
            "-o",
            &format!("type=tar,dest={out}"),
            &path("ctx"),
        ],
    );
    ok(&output);
    // The work tree at the ref as the stage's filesystem (without `.git`), each file with
    // the commit's time, the subdirectory as a context of its own, and a URL as the file
    // `context` (mode 0600, as BuildKit downloads it).
    let listing = tool("tar", &["--utc", "--full-time", "-tvf", &out]);
    let mut lines: Vec<String> = listing
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields[5..].join(" ");
            format!("{} {} {} {name}", fields[0], fields[3], fields[4])
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "-rw------- 2023-11-14 22:13:20 notes",
            "-rw-r--r-- 2023-11-14 22:13:20 from-sub.txt",
            "-rw-r--r-- 2023-11-14 22:13:20 sub/a.txt",
            "-rwxr-xr-x 2023-11-14 22:13:20 top.sh",
            "drwxr-xr-x 2023-11-14 22:13:20 sub/",
            "lrwxrwxrwx 2023-11-14 22:13:20 link -> sub/a.txt",
        ],
        "{listing}"
    );
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(
        progress.contains(&format!("] FROM {repo}#v1 (build context repo)\n")),
        "{progress}"
    );
}

#[test]
fn git_url_queries_choose_ref_subdir_and_git_dir() {
    let dir = tempfile::tempdir().unwrap();
    let served = served_repo(dir.path());
    let commit = tool(
        "git",
        &[
            "-C",
            served.join("repo.git").to_str().unwrap(),
            "rev-parse",
            "v1",
        ],
    );
    let server = HttpServer::start(&served).unwrap();
    let repo = format!("{}/repo.git", server.base());
    write(
        &dir.path().join("ctx/Dockerfile"),
        "FROM scratch\nCOPY --from=tagged a.txt /tagged.txt\nCOPY --from=kept .git/HEAD /head\n",
    );
    let ctx = dir.path().join("ctx");
    let out = dir.path().join("out");
    let build_with = |contexts: &[String]| {
        let mut args = vec!["-q".to_owned()];
        for context in contexts {
            args.extend(["--build-context".to_owned(), context.clone()]);
        }
        args.extend([
            "-o".to_owned(),
            format!("type=local,dest={}", out.display()),
            ctx.to_str().unwrap().to_owned(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        build(&dir.path().join("store"), &args)
    };
    ok(&build_with(&[
        format!("tagged={repo}?tag=v1&subdir=sub&checksum={}", &commit[..8]),
        format!("kept={repo}?branch=main&keep-git-dir"),
    ]));
    assert_eq!(
        fs::read_to_string(out.join("tagged.txt")).unwrap(),
        "in a subdirectory\n"
    );
    // The checkout's `.git`, its HEAD at the commit.
    assert_eq!(fs::read_to_string(out.join("head")).unwrap(), commit);

    let wrong = build_with(&[
        format!("tagged={repo}?tag=v1&checksum=0000"),
        format!("kept={repo}?branch=main&keep-git-dir"),
    ]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(&format!(
            "`{repo}` is at commit `{}`, but `--checksum` expects `0000`",
            commit.trim()
        )),
        "{stderr}"
    );
}

#[test]
fn git_contexts_have_their_submodules_without_git_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let served = dir.path().join("served");
    fs::create_dir(&served).unwrap();
    let server = HttpServer::start(&served).unwrap();
    let git = |args: &[&str]| {
        let mut all = vec!["-C", args[0], "-c", "user.name=t", "-c", "user.email=t@t"];
        all.extend_from_slice(&args[1..]);
        tool("git", &all);
    };
    let serve = |work: &str, bare: &str| {
        tool("git", &["clone", "-q", "--bare", &path(work), &path(bare)]);
        git(&[&path(bare), "update-server-info"]);
    };
    // A repository, and one that has it as the submodule `lib`.
    write(&dir.path().join("sub/s.txt"), "in a submodule\n");
    git(&[&path("sub"), "init", "-q", "-b", "main"]);
    git(&[&path("sub"), "add", "-A"]);
    git(&[&path("sub"), "commit", "-q", "-m", "sub"]);
    serve("sub", "served/sub.git");
    write(
        &dir.path().join("top/Dockerfile"),
        "FROM scratch\nCOPY . /all/\n",
    );
    git(&[&path("top"), "init", "-q", "-b", "main"]);
    let sub_url = format!("{}/sub.git", server.base());
    git(&[&path("top"), "submodule", "--quiet", "add", &sub_url, "lib"]);
    git(&[&path("top"), "add", "-A"]);
    git(&[&path("top"), "commit", "-q", "-m", "top"]);
    serve("top", "served/top.git");

    let root = dir.path().join("store");
    let listing = |context: &str| {
        let out = dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        let output = format!("type=local,dest={}", out.display());
        ok(&build(&root, &["-q", "-o", &output, context]));
        let mut names: Vec<String> = tool("find", &[out.join("all").to_str().unwrap()])
            .lines()
            .map(|line| line.replace(out.join("all").to_str().unwrap(), ""))
            .collect();
        names.sort();
        names
    };
    let top = format!("{}/top.git", server.base());
    assert_eq!(
        listing(&top),
        ["", "/.gitmodules", "/Dockerfile", "/lib", "/lib/s.txt"]
    );
    assert_eq!(
        listing(&format!("{top}?submodules=false")),
        ["", "/.gitmodules", "/Dockerfile", "/lib"]
    );
    // The same through `ADD`, which a git named context is.
    write(
        &dir.path().join("ctx/Dockerfile"),
        "FROM scratch\nCOPY --from=top / /all/\n",
    );
    let named = format!("top={top}");
    let out = dir.path().join("named");
    let output = format!("type=local,dest={}", out.display());
    ok(&build(
        &root,
        &["-q", "--build-context", &named, "-o", &output, &path("ctx")],
    ));
    assert_eq!(
        fs::read_to_string(out.join("all/lib/s.txt")).unwrap(),
        "in a submodule\n"
    );
    assert!(!out.join("all/lib/.git").exists());
    assert!(!out.join("all/.git").exists());
}

#[test]
fn unreadable_named_contexts_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("ctx/Dockerfile"), "FROM x\n");
    let ctx = dir.path().join("ctx");
    for (value, message) in [
        ("x", "invalid `--build-context` `x`: expected NAME=VALUE"),
        (
            "x=ftp://example.com/ctx.tar",
            "build context `x` (`ftp://example.com/ctx.tar`)\ncaused by: mkimage reads directories",
        ),
        (
            "x=https://h/r.git?depth=1",
            "build context `x` (`https://h/r.git?depth=1`)\ncaused by: invalid git URL `https://h/r.git?depth=1`: unexpected query `depth`\n",
        ),
        (
            "x=/no/such/dir",
            "build context `x` (`/no/such/dir`)\ncaused by: `/no/such/dir` is not a directory",
        ),
    ] {
        let output = build(
            &dir.path().join("store"),
            &["--build-context", value, ctx.to_str().unwrap()],
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("error: {message}")), "{stderr}");
    }
}

#[test]
fn remote_contexts_are_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let served = dir.path().join("served");
    // A repository whose `app/` holds a Dockerfile and a file, served over dumb HTTP.
    write(
        &dir.path().join("work/app/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /\n",
    );
    write(&dir.path().join("work/app/hello.txt"), "from git\n");
    write(
        &dir.path().join("work/Dockerfile.all"),
        "FROM scratch\nCOPY . /all/\n",
    );
    let git = |args: &[&str]| {
        let mut all = vec!["-C", args[0], "-c", "user.name=t", "-c", "user.email=t@t"];
        all.extend_from_slice(&args[1..]);
        tool("git", &all);
    };
    git(&[&path("work"), "init", "-q", "-b", "main"]);
    git(&[&path("work"), "add", "-A"]);
    git(&[&path("work"), "commit", "-q", "-m", "one"]);
    fs::create_dir(&served).unwrap();
    tool(
        "git",
        &[
            "clone",
            "-q",
            "--bare",
            &path("work"),
            &path("served/repo.git"),
        ],
    );
    git(&[&path("served/repo.git"), "update-server-info"]);
    // A context tarball and a lone Dockerfile.
    write(
        &dir.path().join("tarred/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /\n",
    );
    write(&dir.path().join("tarred/hello.txt"), "from a tarball\n");
    tool(
        "tar",
        &[
            "-czf",
            &path("served/ctx.tar.gz"),
            "-C",
            &path("tarred"),
            ".",
        ],
    );
    write(&served.join("Dockerfile"), "FROM scratch\nLABEL lone=yes\n");
    let server = HttpServer::start(&served).unwrap();

    let root = dir.path().join("store");
    for (context, expected) in [
        (format!("{}/repo.git#main:app", server.base()), "from git\n"),
        (format!("{}/ctx.tar.gz", server.base()), "from a tarball\n"),
    ] {
        let out = dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        ok(&build(
            &root,
            &[
                "-q",
                "-o",
                &format!("type=local,dest={}", out.display()),
                &context,
            ],
        ));
        assert_eq!(fs::read_to_string(out.join("hello.txt")).unwrap(), expected);
    }
    // The whole work tree, without `.git` unless asked for, as in BuildKit.
    let git_dirs = |extra: &[&str]| {
        let out = dir.path().join("all");
        let _ = fs::remove_dir_all(&out);
        let context = format!("{}/repo.git#main", server.base());
        let output = format!("type=local,dest={}", out.display());
        let mut args = vec!["-q", "-f", "Dockerfile.all", "-o", &output];
        args.extend_from_slice(extra);
        args.push(&context);
        ok(&build(&root, &args));
        let mut names: Vec<String> = fs::read_dir(out.join("all"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(git_dirs(&[]), ["Dockerfile.all", "app"]);
    assert_eq!(
        git_dirs(&["--build-arg", "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1"]),
        [".git", "Dockerfile.all", "app"]
    );

    let lone = ok(&build(
        &root,
        &["-q", "-t", "lone", &format!("{}/Dockerfile", server.base())],
    ));
    let config = ok(&crate::store::mkimage(&root, &["inspect", "lone"]));
    assert!(config.contains("\"lone\": \"yes\""), "{lone} {config}");
}

/// A directory `served` in `dir` holding the fixture git repository of
/// `build/add-git/make-repo.sh`, to serve over HTTP.
fn served_repo(dir: &std::path::Path) -> std::path::PathBuf {
    let served = dir.join("served");
    fs::create_dir(&served).unwrap();
    tool(
        "sh",
        &[
            fixture("build/add-git/make-repo.sh").to_str().unwrap(),
            served.to_str().unwrap(),
        ],
    );
    served
}
