//! The registry client the registry options describe.

use mkimage_core::registry::{Client, ClientOptions, registries_conf};

use crate::args::RegistryArgs;

/// A client with the user's registry options: the `--insecure-registry` ones and those
/// containers' `registries.conf` marks insecure.
pub fn client(args: &RegistryArgs) -> anyhow::Result<Client> {
    let mut insecure_registries = args.insecure_registries.clone();
    insecure_registries.extend(registries_conf::insecure_registries()?);
    Ok(Client::new(ClientOptions {
        insecure_registries,
        ..ClientOptions::default()
    }))
}
