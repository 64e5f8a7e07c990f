//! `hub token ID`: print the token an agent for camera ID must present.

use std::path::Path;

use anyhow::bail;

use crate::config::SourceConfig;
use crate::server;

pub fn run(config: Option<&Path>, id: u32) -> anyhow::Result<()> {
    let cfg = super::load_config_or_demo(config)?;
    let Some(cam) = cfg.cameras.iter().find(|c| c.id == id) else {
        bail!("no camera with id {id} in the configuration");
    };
    let SourceConfig::Agent {
        token_scheme,
        ref token_file,
    } = cam.source
    else {
        bail!("camera {id} ({}) is not fed by an agent", cam.name);
    };
    if let Some(file) = token_file {
        bail!(
            "camera {id} ({}) has a token_file: its agent presents the token in {}",
            cam.name,
            file.display()
        );
    }
    server::ensure_data_dir(&cfg)?;
    let secret = server::load_or_create_secret(&server::secret_path(&cfg))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}", wire::make_token(token_scheme, &secret, id));
    }
    Ok(())
}
