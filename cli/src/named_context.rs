//! Named build contexts (`--build-context NAME=VALUE`): each value becomes an image in the
//! store, and lowering uses its reference wherever the Dockerfile names NAME.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use mkimage_core::build::{BuildError, BuildOptions, Builder};
use mkimage_core::context::{Context, Origin};
use mkimage_core::oci::{ImageSource, import};
use mkimage_core::plan::{
    AddOptions, Base, Copy, CopySource, Op, Plan, Span, Stage, Step, StepMeta,
};
use mkimage_core::store::Store;
use mkimage_dockerfile::NamedContext;

/// Each named context, by name, as the image reference standing for it and its value.
/// Directories, git repositories and URLs are made into one-layer images (`FROM scratch` +
/// `COPY . /`, or `ADD` of the repository or the URL) with `builder` and `options`; a second build of
/// an unchanged one is a cache hit and gives the same image, so the steps built on it hit
/// too.
///
/// # Errors
/// A value that is not `NAME=VALUE`, a kind of context mkimage cannot read, or the failed
/// import or build.
pub fn resolve(
    values: &[String],
    store: &Store,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn mkimage_core::Events,
) -> anyhow::Result<BTreeMap<String, NamedContext>> {
    let mut named = BTreeMap::new();
    for value in values {
        let Some((name, source)) = value.split_once('=').filter(|(name, _)| !name.is_empty())
        else {
            bail!("invalid `--build-context` `{value}`: expected NAME=VALUE");
        };
        let image = image_for(name, source, store, builder, options, events)
            .with_context(|| format!("build context `{name}` (`{source}`)"))?;
        let context = NamedContext {
            image,
            value: source.to_owned(),
        };
        named.insert(name.to_owned(), context);
    }
    Ok(named)
}

/// The image reference for one named context's value.
fn image_for(
    name: &str,
    source: &str,
    store: &Store,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn mkimage_core::Events,
) -> anyhow::Result<String> {
    if let Some(reference) = source.strip_prefix("docker-image://") {
        return Ok(reference.to_owned());
    }
    if let Some(layout) = source.strip_prefix("oci-layout://") {
        return oci_layout(layout, store);
    }
    // A git repository is its work tree at the ref; any other http(s) URL is, as in
    // BuildKit, the one downloaded file, named `context` and not extracted.
    let remote = if mkimage_dockerfile::is_git(source) {
        Some((CopySource::Git(source.to_owned()), "/"))
    } else if source.starts_with("http://") || source.starts_with("https://") {
        Some((CopySource::Url(source.to_owned()), "/context"))
    } else if source.contains("://") {
        bail!(
            "mkimage reads directories, `docker-image://`, `oci-layout://`, git \
             repositories and http(s) URLs as build contexts; download this one and give \
             its directory"
        );
    } else {
        None
    };
    // Kept until the build ends.
    let empty;
    let (context, copy) = if let Some((remote, dest)) = remote {
        let copy = Copy {
            sources: vec![remote],
            add: Some(AddOptions::default()),
            ..Copy::new(Vec::new(), dest)
        };
        // The URL is the step's only source, so the context it is built with holds
        // nothing: an empty directory, new each build and so taken as streamed (its file
        // hashes are not recorded, its lineage names no directory), not the system's
        // temporary directory, which any later change reading the context would walk.
        empty = tempfile::tempdir().context("failed to create a temporary directory")?;
        let context = Context::without_ignore_file(empty.path(), Origin::Context)?;
        (context.streamed(), copy)
    } else {
        let dir = Path::new(source);
        if !dir.is_dir() {
            bail!("`{source}` is not a directory");
        }
        // Its own `.dockerignore` applies, as in BuildKit.
        (Context::open(dir, None)?, Copy::new(vec![".".into()], "/"))
    };
    let text = format!("{} (build context {name})", copy_text(&copy));
    let plan = Plan {
        stages: vec![Stage {
            name: None,
            base: Base::Scratch,
            platform: None,
            steps: vec![Step {
                op: Op::Copy(copy),
                meta: StepMeta {
                    span: Span::default(),
                    text,
                },
            }],
            span: Span::default(),
            from_text: None,
        }],
        target: 0,
    };
    let options = BuildOptions {
        tags: Vec::new(),
        labels: Vec::new(),
        ..options.clone()
    };
    // The step was made here, not written in a file: the caller names the context, and
    // the step's own cause says what went wrong.
    let built = builder
        .build(&plan, &context, &options, events)
        .map_err(|error| match error {
            mkimage_core::Error::Build(BuildError::Step { source, .. }) => *source,
            other => other,
        })?;
    Ok(built.image.digest().to_string())
}

/// How the context's one step shows in progress and history.
fn copy_text(copy: &Copy) -> String {
    match copy.sources.first() {
        Some(CopySource::Git(url)) => format!("ADD {url} {}", copy.dest),
        Some(CopySource::Url(url)) => format!("ADD {url} {}", copy.dest),
        _ => "COPY . /".to_owned(),
    }
}

/// `oci-layout://DIR[:TAG][@DIGEST]`: the layout's image of that digest (imported into the
/// store), else the one of that tag, else its only image.
fn oci_layout(layout: &str, store: &Store) -> anyhow::Result<String> {
    let (rest, digest) = match layout.rsplit_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (layout, None),
    };
    // A tag follows the last `:` after the last `/`.
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, Some(tag)),
        _ => (rest, None),
    };
    let name = if digest.is_some() {
        None
    } else {
        tag.map(str::to_owned)
    };
    let imported = import(
        store,
        &ImageSource::OciDir {
            path: dir.into(),
            name,
        },
    )?;
    let found = match digest {
        Some(digest) => imported
            .iter()
            .find(|image| image.descriptor.digest().to_string() == digest),
        None => imported.first(),
    };
    match found {
        Some(image) => Ok(image.descriptor.digest().to_string()),
        None => bail!(
            "the OCI layout `{dir}` has no image `{}`",
            digest.unwrap_or("")
        ),
    }
}
