//! Named build contexts (`--build-context NAME=VALUE`): each value becomes an image in
//! the store, and lowering uses its reference wherever the Dockerfile names NAME.

use std::collections::BTreeMap;
use std::path::Path;

use mkimage_dockerfile::NamedContext;

use crate::build::{BuildError, BuildOptions, Builder};
use crate::context::{Context, Origin};
use crate::events::Events;
use crate::oci::{ImageSource, import};
use crate::plan::{AddOptions, Base, Copy, CopySource, Op, Plan, Span, Stage, Step, StepMeta};

use super::FrontendError;
use super::request::is_url;

/// Each named context of `values` (by name), as the image reference standing for it and
/// its value. Directories, git repositories and URLs are made into one-layer images
/// (`FROM scratch` + `COPY . /`, or `ADD` of the repository or the URL) with `builder`
/// and `options`; a second build of an unchanged one is a cache hit and gives the same
/// image, so the steps built on it hit too.
///
/// # Errors
///
/// [`FrontendError::NamedContext`], naming the context, with why: a kind of context
/// mkimage cannot read, or the failed import or build.
pub(super) fn resolve(
    values: &BTreeMap<String, String>,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn Events,
) -> Result<BTreeMap<String, NamedContext>, FrontendError> {
    let mut named = BTreeMap::new();
    for (name, value) in values {
        let image = image_for(name, value, builder, options, events).map_err(|source| {
            FrontendError::NamedContext {
                name: name.clone(),
                value: value.clone(),
                source: Box::new(source),
            }
        })?;
        let context = NamedContext {
            image,
            value: value.clone(),
        };
        named.insert(name.clone(), context);
    }
    Ok(named)
}

/// The image reference for the named context `name`, whose value is `value`.
fn image_for(
    name: &str,
    value: &str,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn Events,
) -> Result<String, FrontendError> {
    if let Some(reference) = value.strip_prefix("docker-image://") {
        return Ok(reference.to_owned());
    }
    if let Some(layout) = value.strip_prefix("oci-layout://") {
        return oci_layout(layout, builder);
    }
    // A git repository is its work tree at the ref; any other http(s) URL is, as in
    // BuildKit, the one downloaded file, named `context` and not extracted.
    let (source, dest) = if mkimage_dockerfile::is_git(value) {
        (CopySource::Git(value.to_owned()), "/")
    } else if is_url(value) {
        (CopySource::Url(value.to_owned()), "/context")
    } else if value.contains("://") {
        return Err(FrontendError::UnknownContextKind);
    } else {
        return directory(name, Path::new(value), builder, options, events);
    };
    let copy = Copy {
        sources: vec![source],
        add: Some(AddOptions::default()),
        ..Copy::new(Vec::new(), dest)
    };
    // The URL is the step's only source, so the context it is built with holds nothing:
    // an empty directory, new each build and so taken as streamed (its file hashes are
    // not recorded, its lineage names no directory), not the system's temporary
    // directory, which any later change reading the context would walk.
    let empty = tempfile::tempdir().map_err(|source| FrontendError::CreateTemp { source })?;
    let context =
        Context::without_ignore_file(empty.path(), Origin::Context).map_err(crate::Error::from)?;
    build(name, copy, &context.streamed(), builder, options, events)
}

/// A directory as a named context: its files, its own `.dockerignore` applying, as in
/// BuildKit.
fn directory(
    name: &str,
    dir: &Path,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn Events,
) -> Result<String, FrontendError> {
    if !dir.is_dir() {
        return Err(FrontendError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let context = Context::open(dir, None).map_err(crate::Error::from)?;
    let copy = Copy::new(vec![".".into()], "/");
    build(name, copy, &context, builder, options, events)
}

/// Builds the one-step image `FROM scratch` + `copy` from `context`; returns its id.
fn build(
    name: &str,
    copy: Copy,
    context: &Context,
    builder: &Builder,
    options: &BuildOptions,
    events: &dyn Events,
) -> Result<String, FrontendError> {
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
        inline_cache: false,
        ..options.clone()
    };
    // The step was made here, not written in a file: the caller names the context, and
    // the step's own cause says what went wrong.
    let built = builder
        .build(&plan, context, &options, events)
        .map_err(|error| match error {
            crate::Error::Build(BuildError::Step { source, .. }) => *source,
            other => other,
        })?;
    Ok(built.image.digest().to_string())
}

/// How the context's one step shows in progress and history.
fn copy_text(copy: &Copy) -> String {
    match copy.sources.first() {
        Some(CopySource::Git(url) | CopySource::Url(url)) => format!("ADD {url} {}", copy.dest),
        _ => "COPY . /".to_owned(),
    }
}

/// `oci-layout://DIR[:TAG][@DIGEST]`: the layout's image of that digest (imported into
/// the store), else the one of that tag, else its only image.
fn oci_layout(layout: &str, builder: &Builder) -> Result<String, FrontendError> {
    let (rest, digest) = match layout.rsplit_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (layout, None),
    };
    // A tag follows the last `:` after the last `/`.
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, Some(tag)),
        _ => (rest, None),
    };
    let source = ImageSource::OciDir {
        path: dir.into(),
        name: tag.filter(|_| digest.is_none()).map(str::to_owned),
    };
    let imported = import(builder.store(), &source)?;
    let found = match digest {
        Some(digest) => imported
            .iter()
            .find(|image| image.descriptor.digest().to_string() == digest),
        None => imported.first(),
    };
    match found {
        Some(image) => Ok(image.descriptor.digest().to_string()),
        None => Err(FrontendError::NotInLayout {
            dir: dir.into(),
            digest: digest.unwrap_or("").to_owned(),
        }),
    }
}
