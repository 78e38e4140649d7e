//! The SBOM of an image, made natively: an SPDX 2.3 document of the packages found in
//! the image's filesystem, with no scanner image and no network.
//!
//! The layers are read bottom first into a [view](view) of the files the catalogers
//! want, whiteouts applied. After each layer that changed one of them, every cataloger
//! reads the view again: dpkg ([`dpkg`]), apk ([`apk`]), Python distributions
//! ([`python`]), Node packages ([`node`]), `Cargo.lock` files ([`cargo`]) and Ruby
//! gemspecs ([`gem`]). A package keeps the layer where it first
//! appeared with the version it has at the end, which is the layer the SBOM says added
//! it. The distribution (`/etc/os-release`) qualifies the OS packages' PURLs
//! (`pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`).
//!
//! Not read (yet): rpm's database, Go build info and cargo-auditable data in binaries,
//! and Java archives.

mod apk;
mod cargo;
mod dpkg;
mod gem;
mod node;
mod package;
mod python;
mod spdx;
mod view;

use std::collections::BTreeMap;

use oci_spec::image::Digest;
use serde_json::Value;

use crate::oci::Image;
use crate::store::Store;

use package::{Distro, Identity, Package};
use view::View;

/// The predicate type of an SPDX document.
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";

/// A package and the layer that added it.
#[derive(Debug)]
struct Found {
    package: Package,
    layer: Digest,
}

/// The SPDX document of the packages in `image`, which is named `name`; `created` is
/// the document's creation time (RFC 3339).
///
/// # Errors
///
/// The errors of reading the layers ([`AttestError::ReadLayer`](super::AttestError),
/// a corrupt blob) and of an image past the scan's limits.
pub fn sbom(store: &Store, image: &Image, name: &str, created: &str) -> crate::Result<Value> {
    let packages = scan(store, image)?;
    Ok(spdx::document(
        name,
        image.digest().as_ref(),
        created,
        &packages,
    ))
}

/// Every package of `image`, each with the layer that added it, ordered by the file
/// that records it and then by name.
fn scan(store: &Store, image: &Image) -> crate::Result<Vec<Found>> {
    let mut view = View::default();
    let mut found: BTreeMap<Identity, Found> = BTreeMap::new();
    for layer in image.layers() {
        if !view.apply(store, layer)? {
            continue;
        }
        let mut next = BTreeMap::new();
        for package in catalog(&view) {
            let key = package.identity();
            // A package kept from below keeps its layer, even when its PURL gained a
            // distribution from an `os-release` added since.
            let added = found
                .remove(&key)
                .map_or_else(|| layer.digest().clone(), |old| old.layer);
            next.insert(
                key,
                Found {
                    package,
                    layer: added,
                },
            );
        }
        found = next;
    }
    Ok(found.into_values().collect())
}

/// The packages every cataloger finds in `view`.
fn catalog(view: &View) -> Vec<Package> {
    let distro = Distro::of(view);
    let mut packages = dpkg::packages(view, &distro);
    packages.extend(apk::packages(view, &distro));
    packages.extend(python::packages(view));
    packages.extend(node::packages(view));
    packages.extend(cargo::packages(view));
    packages.extend(gem::packages(view));
    packages
}
