//! Annotation keys the OCI image layout and its readers give meaning to.

/// The annotation naming an image in an OCI image layout. In the archives we write it
/// holds the tag only (`1.0`), as BuildKit and `docker save` write it; in the store's own
/// layout it holds the full reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd, `docker load` and `podman load` read an image's full,
/// normalized name from (`docker.io/library/app:1.0`).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
