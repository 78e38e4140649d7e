//! `mkimage inspect`: images' config, manifest and layers as one JSON array.

use std::process::ExitCode;

use mkimage_core::attest;
use mkimage_core::oci::Image;
use mkimage_core::plan::Platform;
use mkimage_core::store::Store;
use serde_json::{Value, json};

use crate::args::InspectArgs;
use crate::render;

/// Runs `mkimage inspect`.
pub(crate) fn run(store: &Store, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let wanted = match (args.sbom, args.provenance) {
        (true, _) => Some(("SBOM", vec![attest::SPDX_DOCUMENT])),
        (_, true) => Some(("provenance", vec![attest::SLSA_V02, attest::SLSA_V1])),
        _ => None,
    };
    if let Some((what, types)) = wanted {
        for name in &args.images {
            render::json(&predicates(store, name, what, &types)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Vec::new();
    for name in &args.images {
        out.push(describe(store, name)?);
    }
    render::json(&Value::Array(out))?;
    Ok(ExitCode::SUCCESS)
}

/// The predicates of `types` attached to the image `name`: the one predicate, or an
/// object of them by platform when there are several.
fn predicates(store: &Store, name: &str, what: &str, types: &[&str]) -> anyhow::Result<Value> {
    let descriptor = store.find_image(name)?;
    let mut found = serde_json::Map::new();
    for kind in types {
        for (platform, statement) in attest::predicates(store, &descriptor, kind)? {
            found.insert(platform, statement.predicate);
        }
    }
    if found.len() > 1 {
        return Ok(Value::Object(found));
    }
    match found.into_iter().next() {
        Some((_, predicate)) => Ok(predicate),
        None => anyhow::bail!("image `{name}` has no {what} attestation"),
    }
}

/// One image as docker-like JSON, with the manifest and config as stored.
fn describe(store: &Store, name: &str) -> anyhow::Result<Value> {
    let descriptor = store.find_image(name)?;
    let image = Image::load(store, &descriptor, &Platform::host())?;
    let repo_tags: Vec<String> = store
        .tags()?
        .into_iter()
        .filter(|t| t.descriptor.digest() == descriptor.digest())
        .filter_map(|t| t.name.map(|n| n.familiar()))
        .collect();
    let layers: Vec<Value> = image
        .layers()
        .iter()
        .zip(image.diff_ids())
        .map(|(layer, diff_id)| {
            json!({
                "Digest": layer.digest().to_string(),
                "DiffId": diff_id.to_string(),
                "MediaType": layer.media_type().to_string(),
                "Size": layer.size(),
            })
        })
        .collect();
    let config = image.config();
    let size: u64 = image.layers().iter().map(|l| l.size()).sum::<u64>()
        + image.config_descriptor().size()
        + descriptor.size();
    Ok(json!({
        "Id": descriptor.digest().to_string(),
        "RepoTags": repo_tags,
        "MediaType": descriptor.media_type().to_string(),
        "ManifestDigest": image.digest().to_string(),
        "ConfigDigest": image.config_descriptor().digest().to_string(),
        "Created": config.created,
        "Architecture": config.architecture,
        "Os": config.os,
        "Variant": config.variant,
        "Size": size,
        "Config": serde_json::to_value(config)?,
        "Manifest": serde_json::to_value(image.manifest())?,
        "Layers": layers,
    }))
}
