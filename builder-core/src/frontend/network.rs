//! The network of `RUN` steps: the build's default network, whether it may be the host's,
//! and extra `/etc/hosts` entries, given to every `RUN` of the plan.

use std::io;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::str::FromStr;

use crate::Plan;
use crate::plan::{KeyValue, Network, Op};

use super::{Entitlement, FrontendError};

/// An extra `/etc/hosts` entry for `RUN` steps (`--add-host HOST:IP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    host: String,
    address: HostAddress,
}

/// What an extra host name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostAddress {
    /// This address.
    Ip(IpAddr),
    /// `host-gateway`: the host's own address on its default route, found at build time.
    Gateway,
}

impl ExtraHost {
    /// `host` at `ip`.
    pub fn new(host: impl Into<String>, ip: IpAddr) -> ExtraHost {
        ExtraHost {
            host: host.into(),
            address: HostAddress::Ip(ip),
        }
    }

    /// `host` at the host's own address on its default route (`HOST:host-gateway`), which
    /// a step on the default network reaches through its network stack, as a docker
    /// container reaches its bridge's gateway.
    pub fn gateway(host: impl Into<String>) -> ExtraHost {
        ExtraHost {
            host: host.into(),
            address: HostAddress::Gateway,
        }
    }
}

impl FromStr for ExtraHost {
    type Err = FrontendError;

    /// `HOST:IP` or `HOST=IP`, as docker takes them; `IP` may be `host-gateway`.
    fn from_str(text: &str) -> Result<ExtraHost, FrontendError> {
        let invalid = |problem: String| FrontendError::InvalidHost {
            text: text.to_owned(),
            problem,
        };
        let Some((host, ip)) = text
            .split_once(['=', ':'])
            .filter(|(host, ip)| !host.is_empty() && !ip.is_empty())
        else {
            return Err(invalid("expected HOST:IP".to_owned()));
        };
        if ip == "host-gateway" {
            return Ok(ExtraHost::gateway(host));
        }
        let ip = ip
            .parse()
            .map_err(|_| invalid(format!("`{ip}` is not an IP address")))?;
        Ok(ExtraHost::new(host, ip))
    }
}

/// Refuses the build's default network `network` when it is the host's and the
/// `network.host` entitlement is not among `entitlements`, before anything is built.
pub(super) fn check_network(
    network: Network,
    entitlements: &[Entitlement],
) -> Result<(), FrontendError> {
    if network == Network::Host && !entitlements.contains(&Entitlement::NetworkHost) {
        return Err(FrontendError::HostNetworkNotAllowed);
    }
    Ok(())
}

/// The `/etc/hosts` entries of `hosts`, `host-gateway` found.
///
/// # Errors
///
/// [`FrontendError::HostGateway`] when `host-gateway` is asked for and the host has no
/// IPv4 default route.
pub(super) fn host_entries(hosts: &[ExtraHost]) -> Result<Vec<KeyValue>, FrontendError> {
    hosts
        .iter()
        .map(|entry| {
            let ip = match entry.address {
                HostAddress::Ip(ip) => ip,
                HostAddress::Gateway => {
                    host_gateway().map_err(|source| FrontendError::HostGateway {
                        host: entry.host.clone(),
                        source,
                    })?
                }
            };
            Ok(KeyValue::new(entry.host.as_str(), ip.to_string()))
        })
        .collect()
}

/// The host's own address on its default route: what `host-gateway` stands for.
fn host_gateway() -> io::Result<IpAddr> {
    // Connecting a UDP socket sends nothing: it only asks the kernel for a route, whose
    // source address is the host's. The destination is a documentation address, routed by
    // the default route like any other.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect((Ipv4Addr::new(203, 0, 113, 1), 9))?;
    Ok(socket.local_addr()?.ip())
}

/// Gives every `RUN` of `plan` the network `network` (where the step chose none) and the
/// `/etc/hosts` entries `hosts`.
pub(super) fn run_defaults(plan: &mut Plan, network: Network, hosts: &[KeyValue]) {
    for step in plan.stages.iter_mut().flat_map(|stage| &mut stage.steps) {
        if let Op::Run(run) = &mut step.op {
            if run.network == Network::Default {
                run.network = network;
            }
            run.extra_hosts = hosts.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_take_either_separator_and_the_host_gateway() -> Result<(), FrontendError> {
        let parsed: ExtraHost = "db:10.0.0.2".parse()?;
        assert_eq!(parsed, ExtraHost::new("db", [10, 0, 0, 2].into()));
        let parsed: ExtraHost = "gw=host-gateway".parse()?;
        assert_eq!(parsed, ExtraHost::gateway("gw"));
        let errors = [
            ("db", "invalid `--add-host` `db`: expected HOST:IP"),
            (
                "db:nowhere",
                "invalid `--add-host` `db:nowhere`: `nowhere` is not an IP address",
            ),
        ];
        for (text, message) in errors {
            let error = text.parse::<ExtraHost>().err().map(|e| e.to_string());
            assert_eq!(error.as_deref(), Some(message));
        }
        Ok(())
    }

    #[test]
    fn the_host_network_needs_its_entitlement() {
        let refused = check_network(Network::Host, &[Entitlement::SecurityInsecure]);
        assert!(matches!(refused, Err(FrontendError::HostNetworkNotAllowed)));
        assert!(check_network(Network::Host, &[Entitlement::NetworkHost]).is_ok());
        assert!(check_network(Network::Default, &[]).is_ok());
    }
}
