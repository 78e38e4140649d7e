//! `RUN --network` and `RUN --security`: how the step's sandbox is set up. Docker takes
//! the values as written, without expansion, and case-sensitively.

use mkimage_plan::{Network, Security};

/// A `--network` or `--security` value that is not one of the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// An unknown `--network` value.
    #[error("invalid network mode `{0}`: expected `default`, `none` or `host`")]
    Network(String),
    /// An unknown `--security` value.
    #[error("invalid security mode `{0}`: expected `sandbox` or `insecure`")]
    Security(String),
}

/// Parses a `--network` value.
pub(crate) fn parse_network(value: &str) -> Result<Network, SandboxError> {
    match value {
        "default" => Ok(Network::Default),
        "none" => Ok(Network::None),
        "host" => Ok(Network::Host),
        _ => Err(SandboxError::Network(value.to_owned())),
    }
}

/// Parses a `--security` value.
pub(crate) fn parse_security(value: &str) -> Result<Security, SandboxError> {
    match value {
        "sandbox" => Ok(Security::Sandbox),
        "insecure" => Ok(Security::Insecure),
        _ => Err(SandboxError::Security(value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_exact_words() {
        assert_eq!(parse_network("none"), Ok(Network::None));
        assert_eq!(parse_network("host"), Ok(Network::Host));
        assert_eq!(parse_network("default"), Ok(Network::Default));
        assert_eq!(parse_security("insecure"), Ok(Security::Insecure));
        assert_eq!(parse_security("sandbox"), Ok(Security::Sandbox));
        assert_eq!(
            parse_network("None").unwrap_err().to_string(),
            "invalid network mode `None`: expected `default`, `none` or `host`"
        );
        assert_eq!(
            parse_security("").unwrap_err().to_string(),
            "invalid security mode ``: expected `sandbox` or `insecure`"
        );
    }
}
