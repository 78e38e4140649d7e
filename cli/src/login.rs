//! `mkimage login` and `mkimage logout`: registry credentials in docker's config file.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::bail;
use mkimage_core::registry::Credential;
use mkimage_core::registry::credentials;

use crate::args::{LoginArgs, LogoutArgs};
use crate::render;

/// Runs `mkimage login`: checks the credential with the registry, then stores it.
pub(crate) fn login(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let password = match (&args.password, args.password_stdin) {
        (Some(password), _) => password.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("a password is required: use `--password-stdin` or `--password`"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let domain = credentials::normalize(&args.server);
    let credential = Credential {
        username: args.username.clone(),
        password,
    };
    let client = crate::registry::client(&args.registry)?;
    client.check_login(&domain, credential.clone())?;
    credentials::login(&domain, &credential)?;
    render::line("Login Succeeded")?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `mkimage logout`.
pub(crate) fn logout(args: &LogoutArgs) -> anyhow::Result<ExitCode> {
    let domain = credentials::normalize(&args.server);
    credentials::logout(&domain)?;
    render::line(&format!("Removing login credentials for {domain}"))?;
    Ok(ExitCode::SUCCESS)
}
