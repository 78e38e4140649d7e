//! Annotation keys the OCI image layout and its readers give meaning to.

use oci_spec::image::Descriptor;

/// The annotation naming an image in an OCI image layout. In the archives we write it
/// holds the tag only (`1.0`), as BuildKit and `docker save` write it; in the store's own
/// layout it holds the full reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd, `docker load` and `podman load` read an image's full,
/// normalized name from (`docker.io/library/app:1.0`).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The index annotation telling what a manifest is (BuildKit's attestation layout).
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// The value of [`REFERENCE_TYPE`] for an attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
/// The index annotation naming the manifest an attestation manifest is about.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// Whether the index entry `descriptor` is an attestation manifest.
pub fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|kind| kind == ATTESTATION_MANIFEST)
}
