//! The registry client the registry options describe.

use mkimage_core::registry::{Client, ClientOptions};

use crate::args::RegistryArgs;

/// A client with the user's registry options.
pub fn client(args: &RegistryArgs) -> Client {
    Client::new(ClientOptions {
        insecure_registries: args.insecure_registries.clone(),
        ..ClientOptions::default()
    })
}
