//! Hostile fetched sources: git repositories, as `ADD` sources and as the build context,
//! whose symlinks lead to the host's paths.

use mkimage_core::testutil::HttpServer;

use super::{Hostile, INSIDE};

/// The repository's Dockerfile, at the host directory's path inside it.
const DOCKERFILE: &str = "FROM busybox:test\nRUN echo the repository own > /built\n";

impl Hostile {
    /// Serves over dumb HTTP a repository (`repo.git`, branch `main`) holding, at the
    /// host directory's path, its own canary ([`INSIDE`]), `empty/` and `Dockerfile`, with
    /// the links `abs` and `rel` to that directory, `up` to its parent, and the
    /// `extra` links (`name`, target).
    fn served_repo(&self, extra: &[(&str, String)]) -> HttpServer {
        let host = self.host();
        let served = self.path("served");
        let mut links = vec![
            ("abs", host.clone()),
            ("rel", self.climb()),
            ("up", self.dir.path().display().to_string()),
        ];
        links.extend(extra.iter().map(|(name, target)| (*name, target.clone())));
        let links: String = links
            .iter()
            .map(|(name, target)| format!("ln -s '{target}' 'work/{name}'\n"))
            .collect();
        let script = format!(
            "set -eu\n\
             cd \"$1\"\n\
             git init -q -b main work\n\
             mkdir -p work{host}/empty\n\
             printf '%s' '{INSIDE}' > work{host}/canary\n\
             printf '{DOCKERFILE}' > work{host}/Dockerfile\n\
             touch work{host}/empty/.keep\n\
             {links}\
             git -C work add -A\n\
             git -C work -c user.name=t -c user.email=t@example.invalid commit -q -m one\n\
             git clone -q --bare work repo.git\n\
             git -C repo.git update-server-info\n"
        );
        std::fs::create_dir(&served).unwrap();
        crate::build::tool("sh", &["-c", &script, "sh", served.to_str().unwrap()]);
        HttpServer::start(&served).unwrap()
    }
}

// See: issue 13
#[test]
fn git_subdirectories_through_symlinks_stay_in_the_checkout() {
    let hostile = Hostile::new();
    let server = hostile.served_repo(&[]);
    let repo = format!("{}/repo.git", server.base());
    let output = hostile.build_ok(
        &format!(
            "FROM busybox:test\n\
             ADD {repo}#main:abs /from-abs/\n\
             ADD {repo}#main:rel /from-rel/\n\
             ADD {repo}#main:up/host /from-up/\n"
        ),
        &[],
    );
    hostile.assert_untouched(&output);
    // `from-up`: a link on the way, not only at the end, is resolved in the checkout too.
    hostile.assert_inside(&["from-abs/canary", "from-rel/canary", "from-up/canary"]);
}

// See: issue 13
#[test]
fn a_git_contexts_dockerfile_is_read_inside_it() {
    let hostile = Hostile::new();
    let host = hostile.host();
    // The Dockerfile, and the ones `-f` names, lead to the host's directory if followed
    // there, where a Dockerfile of the host's waits.
    std::fs::write(
        hostile.path("host/Dockerfile"),
        "FROM busybox:test\nRUN echo the host own > /built\n",
    )
    .unwrap();
    let server = hostile.served_repo(&[
        ("Dockerfile", format!("{host}/Dockerfile")),
        ("named", format!("{}/Dockerfile", hostile.climb())),
    ]);
    let repo = format!("{}/repo.git#main", server.base());
    let out = hostile.path("out");
    let local = format!("type=local,dest={}", out.display());
    for file in [None, Some("named"), Some("up/host/Dockerfile")] {
        // `-o type=local` merges: each build starts from an empty directory.
        if out.exists() {
            std::fs::remove_dir_all(&out).unwrap();
        }
        let mut args = vec!["-o", local.as_str()];
        if let Some(file) = file {
            args.extend(["-f", file]);
        }
        args.push(&repo);
        let output = hostile.mkimage_build(&args);
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{file:?}: {text}");
        hostile.assert_untouched(&text);
        assert_eq!(hostile.built("built"), "the repository own\n", "{file:?}");
    }
}
