//! `--secret` and `--ssh` of `mkimage build`, read into the inputs of `RUN` steps.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use mkimage_core::run::StepInputs;

/// The largest secret read, as BuildKit allows.
const SECRET_LIMIT: u64 = 500 * 1024;

/// The secrets and SSH agents given on the command line.
pub(crate) fn step_inputs(secrets: &[String], ssh: &[String]) -> anyhow::Result<StepInputs> {
    let mut inputs = StepInputs::default();
    for text in secrets {
        let (id, value) = secret(text)?;
        inputs = inputs.secret(id, value);
    }
    for text in ssh {
        let (id, socket) = match text.split_once('=') {
            Some((id, socket)) => (id.to_owned(), PathBuf::from(socket)),
            None => {
                let socket = std::env::var_os("SSH_AUTH_SOCK")
                    .filter(|value| !value.is_empty())
                    .with_context(|| format!("`--ssh {text}` needs `SSH_AUTH_SOCK` to be set"))?;
                (text.clone(), PathBuf::from(socket))
            }
        };
        inputs = inputs.ssh(id, socket);
    }
    Ok(inputs)
}

/// One `--secret`: its id and value.
fn secret(text: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let (mut id, mut src, mut env) = (None, None, None);
    for field in text.split(',') {
        match field.split_once('=') {
            Some(("id", value)) => id = Some(value.to_owned()),
            Some(("src" | "source", value)) => src = Some(value.to_owned()),
            Some(("env", value)) => env = Some(value.to_owned()),
            Some(("type", "file" | "env")) => {}
            _ => bail!("invalid `--secret {text}`: expected `id=ID,src=FILE` or `id=ID,env=VAR`"),
        }
    }
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        bail!("invalid `--secret {text}`: `id` is missing");
    };
    let var = match (env, &src) {
        (Some(var), _) => Some(var),
        (None, None) if std::env::var_os(&id).is_some() => Some(id.clone()),
        (None, _) => None,
    };
    if let Some(var) = var {
        let value = std::env::var_os(&var)
            .with_context(|| format!("secret `{id}`: the variable `{var}` is not set"))?;
        return Ok((id, value.into_encoded_bytes()));
    }
    let path = PathBuf::from(src.unwrap_or_else(|| id.clone()));
    let file = std::fs::File::open(&path)
        .with_context(|| format!("secret `{id}`: failed to read `{}`", path.display()))?;
    let mut value = Vec::new();
    file.take(SECRET_LIMIT + 1)
        .read_to_end(&mut value)
        .with_context(|| format!("secret `{id}`: failed to read `{}`", path.display()))?;
    if value.len() as u64 > SECRET_LIMIT {
        bail!("secret `{id}`: `{}` is larger than 500 KiB", path.display());
    }
    Ok((id, value))
}
