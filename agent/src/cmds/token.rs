//! `agent token --secret-file F --id N [--scheme ...]`: print the token the hub expects for a camera.

use std::path::Path;

use anyhow::Context;
use wire::TokenScheme;

pub fn run(secret_file: &Path, id: u32, scheme: TokenScheme) -> anyhow::Result<()> {
    let secret = std::fs::read(secret_file)
        .with_context(|| format!("reading the secret from {}", secret_file.display()))?;
    // A trailing newline from `echo secret > file` is not part of the secret.
    let secret = secret.trim_ascii_end();
    anyhow::ensure!(!secret.is_empty(), "{} is empty", secret_file.display());
    println!("{}", wire::make_token(scheme, secret, id));
    Ok(())
}
