//! The registry client and the network options the registry options describe.

use mkimage_core::net::NetOptions;
use mkimage_core::registry::{Client, ClientOptions, registries_conf};

use crate::args::RegistryArgs;

/// A client with the user's registry options (see [`client_options`]).
pub(crate) fn client(args: &RegistryArgs) -> anyhow::Result<Client> {
    Ok(Client::new(client_options(args)?))
}

/// The user's registry options: the `--insecure-registry` ones and those containers'
/// `registries.conf` marks insecure, and the network options.
pub(crate) fn client_options(args: &RegistryArgs) -> anyhow::Result<ClientOptions> {
    let mut insecure_registries = args.insecure_registries.clone();
    insecure_registries.extend(registries_conf::insecure_registries()?);
    Ok(ClientOptions {
        insecure_registries,
        net: net_options(args),
        ..ClientOptions::default()
    })
}

/// The timeouts, deadline and retries of `--network-timeout`, `--transfer-deadline` and
/// `--retry`, for registries and downloads alike.
fn net_options(args: &RegistryArgs) -> NetOptions {
    NetOptions {
        deadline: args.transfer_deadline,
        retries: args.retry,
        ..NetOptions::default().with_timeout(args.network_timeout)
    }
}
