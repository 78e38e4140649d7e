//! Which attestations a build makes, as buildx's `--sbom`, `--provenance` and `--attest`
//! spell them.

use std::str::FromStr;

use super::AttestError;

/// The attestations a build is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attestations {
    /// The SBOM (`--sbom`, `--attest type=sbom`); off when `None`, as in buildx.
    pub sbom: Option<SbomOptions>,
    /// The provenance (`--provenance`, `--attest type=provenance`).
    pub provenance: Setting<ProvenanceOptions>,
}

/// An attestation that is asked for, refused, or left to the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Setting<T> {
    /// Not said: buildx's default applies.
    #[default]
    Default,
    /// Refused (`false`, `disabled=true`).
    Off,
    /// Asked for, with these options.
    On(T),
}

/// How the SBOM is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbomOptions {
    /// A scanner image named with `generator=`: mkimage scans natively, so it is only
    /// noted and not run.
    pub generator: Option<String>,
}

/// How much the provenance tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProvenanceMode {
    /// `mode=min`: the request, the builder and the materials.
    #[default]
    Min,
    /// `mode=max`: also the Dockerfile, the steps with their cache keys and whether each
    /// was cached, the context's digest, and the secrets' and SSH agents' ids.
    Max,
}

/// The SLSA provenance version of the predicate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlsaVersion {
    /// `https://slsa.dev/provenance/v0.2`, BuildKit's default.
    #[default]
    V02,
    /// `https://slsa.dev/provenance/v1` (`version=v1`).
    V1,
}

/// The options of the provenance attestation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceOptions {
    /// `mode=`.
    pub mode: ProvenanceMode,
    /// `version=`.
    pub version: SlsaVersion,
    /// `builder-id=`: the URI naming the builder; mkimage's repository when `None`.
    pub builder_id: Option<String>,
}

impl Attestations {
    /// The attestations to make for a build whose outputs are `outputs_keep_index` (a
    /// registry or an OCI archive among them, which keep an image index): the SBOM as
    /// asked, and the provenance as asked, else `mode=min` for such outputs, as buildx
    /// does; none for a build written only to the store or a docker archive.
    pub fn resolve(&self, outputs_keep_index: bool) -> Attestations {
        let provenance = match &self.provenance {
            Setting::Default if outputs_keep_index => Setting::On(ProvenanceOptions::default()),
            Setting::Default => Setting::Off,
            other => other.clone(),
        };
        Attestations {
            sbom: self.sbom.clone(),
            provenance,
        }
    }

    /// Whether any attestation is made.
    pub fn any(&self) -> bool {
        self.sbom.is_some() || matches!(self.provenance, Setting::On(_))
    }

    /// Applies one `--attest` value (`type=sbom,…`, `type=provenance,mode=max`,
    /// `type=…,disabled=true`).
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidOption`] for a missing or unknown `type`, or an option its
    /// type does not take.
    pub fn apply_attest(&mut self, text: &str) -> Result<(), AttestError> {
        let fields = fields(text)?;
        let kind = fields.iter().find(|(key, _)| *key == "type");
        let rest: Vec<(&str, &str)> = fields
            .iter()
            .filter(|(key, _)| *key != "type")
            .copied()
            .collect();
        match kind.map(|(_, value)| *value) {
            Some("sbom") => self.sbom = sbom(text, &rest)?,
            Some("provenance") => self.provenance = provenance(text, &rest)?,
            Some(other) => return Err(invalid(text, format!("unknown type `{other}`"))),
            None => return Err(invalid(text, "`type=` is missing".to_owned())),
        }
        Ok(())
    }

    /// Applies a `--sbom` value: `true`, `false`, or options (`generator=IMAGE`).
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidOption`] for a value buildx does not take.
    pub fn apply_sbom(&mut self, text: &str) -> Result<(), AttestError> {
        self.sbom = sbom(text, &fields(text)?)?;
        Ok(())
    }

    /// Applies a `--provenance` value: `true`, `false`, or options (`mode=min|max`,
    /// `version=v0.2|v1`, `builder-id=URI`).
    ///
    /// # Errors
    ///
    /// [`AttestError::InvalidOption`] for a value buildx does not take.
    pub fn apply_provenance(&mut self, text: &str) -> Result<(), AttestError> {
        self.provenance = provenance(text, &fields(text)?)?;
        Ok(())
    }
}

impl FromStr for ProvenanceMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ProvenanceMode, String> {
        match text {
            "min" => Ok(ProvenanceMode::Min),
            "max" => Ok(ProvenanceMode::Max),
            other => Err(format!("unknown mode `{other}` (min, max)")),
        }
    }
}

impl FromStr for SlsaVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<SlsaVersion, String> {
        match text {
            "v0.2" => Ok(SlsaVersion::V02),
            "v1" | "v1.0" | "v1.1" => Ok(SlsaVersion::V1),
            other => Err(format!("unknown version `{other}` (v0.2, v1)")),
        }
    }
}

/// The `key=value` fields of `text`; a lone `true`/`false` (or `1`/`0`) is the field
/// `enabled`, as buildx reads `--sbom=true`.
fn fields(text: &str) -> Result<Vec<(&str, &str)>, AttestError> {
    text.split(',')
        .map(|part| match part.split_once('=') {
            Some(pair) => Ok(pair),
            None if ["true", "1", "false", "0"].contains(&part) => Ok(("enabled", part)),
            None => Err(invalid(text, format!("expected `key=value`, got `{part}`"))),
        })
        .collect()
}

/// Whether `fields` turn the attestation off (`false`, `disabled=true`).
fn disabled(text: &str, fields: &[(&str, &str)]) -> Result<bool, AttestError> {
    let mut off = false;
    for (key, value) in fields {
        let value = match *value {
            "true" | "1" => true,
            "false" | "0" => false,
            other if ["enabled", "disabled"].contains(key) => {
                return Err(invalid(
                    text,
                    format!("`{key}` takes true or false, not `{other}`"),
                ));
            }
            _ => continue,
        };
        match *key {
            "enabled" => off = !value,
            "disabled" => off = value,
            _ => {}
        }
    }
    Ok(off)
}

/// The SBOM setting `fields` describe.
fn sbom(text: &str, fields: &[(&str, &str)]) -> Result<Option<SbomOptions>, AttestError> {
    if disabled(text, fields)? {
        return Ok(None);
    }
    let mut options = SbomOptions::default();
    for (key, value) in fields {
        match *key {
            "enabled" | "disabled" => {}
            "generator" => options.generator = Some((*value).to_owned()),
            other => return Err(invalid(text, format!("unknown sbom option `{other}`"))),
        }
    }
    Ok(Some(options))
}

/// The provenance setting `fields` describe.
fn provenance(
    text: &str,
    fields: &[(&str, &str)],
) -> Result<Setting<ProvenanceOptions>, AttestError> {
    if disabled(text, fields)? {
        return Ok(Setting::Off);
    }
    let mut options = ProvenanceOptions::default();
    for (key, value) in fields {
        match *key {
            "enabled" | "disabled" => {}
            "mode" => options.mode = value.parse().map_err(|problem| invalid(text, problem))?,
            "version" => {
                options.version = value.parse().map_err(|problem| invalid(text, problem))?;
            }
            "builder-id" => options.builder_id = Some((*value).to_owned()),
            other => {
                return Err(invalid(
                    text,
                    format!("unknown provenance option `{other}`"),
                ));
            }
        }
    }
    Ok(Setting::On(options))
}

fn invalid(text: &str, problem: String) -> AttestError {
    AttestError::InvalidOption {
        text: text.to_owned(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_buildx_spells_them() -> Result<(), AttestError> {
        let mut asked = Attestations::default();
        asked.apply_sbom("true")?;
        assert_eq!(asked.sbom, Some(SbomOptions::default()));
        asked.apply_sbom("generator=docker/buildkit-syft-scanner")?;
        assert_eq!(
            asked.sbom.as_ref().and_then(|s| s.generator.as_deref()),
            Some("docker/buildkit-syft-scanner")
        );
        asked.apply_sbom("false")?;
        assert_eq!(asked.sbom, None);
        asked.apply_provenance("mode=max")?;
        let max = ProvenanceOptions {
            mode: ProvenanceMode::Max,
            ..ProvenanceOptions::default()
        };
        assert_eq!(asked.provenance, Setting::On(max.clone()));
        asked.apply_provenance("false")?;
        assert_eq!(asked.provenance, Setting::Off);
        asked.apply_attest("type=provenance,mode=max,version=v1")?;
        let v1 = ProvenanceOptions {
            version: SlsaVersion::V1,
            ..max
        };
        assert_eq!(asked.provenance, Setting::On(v1));
        asked.apply_attest("type=sbom")?;
        assert!(asked.sbom.is_some());
        asked.apply_attest("type=sbom,disabled=true")?;
        assert_eq!(asked.sbom, None);
        Ok(())
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let mut asked = Attestations::default();
        let cases = [
            (
                asked.apply_provenance("mode=full"),
                "invalid attestation option `mode=full`: unknown mode `full` (min, max)",
            ),
            (
                asked.apply_attest("mode=max"),
                "invalid attestation option `mode=max`: `type=` is missing",
            ),
            (
                asked.apply_attest("type=logs"),
                "invalid attestation option `type=logs`: unknown type `logs`",
            ),
            (
                asked.apply_sbom("yes"),
                "invalid attestation option `yes`: expected `key=value`, got `yes`",
            ),
            (
                asked.apply_sbom("scan=1"),
                "invalid attestation option `scan=1`: unknown sbom option `scan`",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(
                result.err().map(|e| e.to_string()).as_deref(),
                Some(message)
            );
        }
    }

    #[test]
    fn provenance_defaults_to_min_for_outputs_that_keep_an_index() {
        let asked = Attestations::default();
        assert_eq!(
            asked.resolve(true).provenance,
            Setting::On(ProvenanceOptions::default())
        );
        assert_eq!(asked.resolve(false).provenance, Setting::Off);
        assert!(!asked.resolve(false).any());
    }
}
