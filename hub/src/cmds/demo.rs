//! `hub demo`: the hub on an embedded default: a built-in test-pattern
//! camera plus a slot for one agent, data under `./hub-data`, listening on
//! 127.0.0.1:8080, with a generated login that it prints. The agent's token is
//! printed too and written to `DATA_DIR/demo-agent.token` (mode 0600), where
//! `scripts/demo.sh` hands it to the local agent it starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{CameraConfig, Config, DemoSettings, SourceConfig};
use crate::db::{self, Db};
use crate::server;

pub const DEFAULT_DATA_DIR: &str = "hub-data";
const LOGIN_FILE: &str = "demo-login.txt";
/// The token of the agent slot (camera 2), for `scripts/demo.sh`'s agent.
pub const AGENT_TOKEN_FILE: &str = "demo-agent.token";

pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// The demo configuration: camera 1 is the test pattern, camera 2 an agent.
pub fn demo_config(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Config> {
    let text = format!(
        "data_dir = {:?}\nlisten = \"{listen}\"\n",
        data_dir.display().to_string()
    );
    let mut cfg = Config::parse(&text, Path::new("<demo>"))?;
    cfg.cameras = vec![
        CameraConfig {
            id: 1,
            name: "demo".into(),
            description: "Built-in test pattern".into(),
            source: SourceConfig::Demo(DemoSettings {
                width: 640,
                height: 480,
                fps: 10,
                jpeg_quality: 80,
            }),
            fallback_image: None,
            segment_duration: None,
            retention: None,
        },
        CameraConfig {
            id: 2,
            name: "pi".into(),
            description: "An agent: scripts/demo.sh starts one (test pattern)".into(),
            source: SourceConfig::Agent {
                token_scheme: wire::TokenScheme::HmacSha256,
                token_file: None,
            },
            fallback_image: None,
            segment_duration: None,
            retention: None,
        },
    ];
    Ok(cfg)
}

/// Make sure a login exists and return (user, password) to print.
fn ensure_login(cfg: &Config) -> anyhow::Result<Option<(String, String)>> {
    let db = Db::open(&server::db_path(cfg)).context("opening the database")?;
    let file = cfg.data_dir.join(LOGIN_FILE);
    if db.call_blocking(|c| db::user_count(c))? == 0 {
        let password = crate::auth::random_hex(10);
        crate::auth::set_user(&db, "admin", &password)?;
        write_private(&file, &format!("admin\n{password}\n"))?;
        return Ok(Some(("admin".into(), password)));
    }
    Ok(std::fs::read_to_string(&file).ok().and_then(|t| {
        let mut l = t.lines();
        Some((l.next()?.to_owned(), l.next()?.to_owned()))
    }))
}

/// Writes `text` to `path` with mode 0600 (replacing what was there).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::config::write_secret_file(path, text)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(data_dir: Option<PathBuf>, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let dir = data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let listen = listen.unwrap_or_else(default_listen);
    let cfg = demo_config(&dir, listen)?;
    server::ensure_data_dir(&cfg)?;
    let login = ensure_login(&cfg)?;
    let secret = server::load_or_create_secret(&server::secret_path(&cfg))?;
    let token = wire::make_token(wire::TokenScheme::HmacSha256, &secret, 2);
    write_private(&dir.join(AGENT_TOKEN_FILE), &format!("{token}\n"))?;
    eprintln!();
    eprintln!("  Camera hub demo");
    eprintln!("  open      http://{listen}/");
    match &login {
        Some((u, p)) => eprintln!(
            "  login     {u} / {p}   (stored in {})",
            dir.join(LOGIN_FILE).display()
        ),
        None => eprintln!("  login     with a user you added (`hub user add NAME`)"),
    }
    eprintln!("  data      {}", dir.display());
    eprintln!("  agent     camera id 2, token {token}");
    eprintln!();
    super::serve::serve(cfg)
}
