//! `hub import-camera-proxy settings.json`: camera_proxy's camera list as
//! `[[camera]]` entries of kind `reolink` (battery cameras over UDP).
//!
//! | camera_proxy  | hub                                           |
//! |---------------|-----------------------------------------------|
//! | `name`        | `name` (characters outside `A-Za-z0-9-_` become `_`) |
//! | `deviceSid`   | `uid`                                         |
//! | `username`    | `username`                                    |
//! | `password`    | a mode-0600 `password_file` (never the TOML)  |
//! | `ipaddress`   | `ip`                                          |
//! | `comm_port`   | `local_port`                                  |
//! | `backupImage` | `fallback_image` (camera_proxy resolved it against its `src/` directory) |

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::config::Config;

/// camera_proxy's `settings.json`.
#[derive(Debug, Deserialize)]
struct Settings {
    cameras: Vec<ProxyCamera>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProxyCamera {
    name: String,
    device_sid: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    ipaddress: Option<String>,
    #[serde(default, rename = "comm_port")]
    comm_port: Option<u16>,
    #[serde(default)]
    backup_image: Option<String>,
}

/// What an import produces: TOML text and the password files to write.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    /// (path, password) pairs; written with mode 0600.
    pub password_files: Vec<(PathBuf, String)>,
    /// Things the user should know (renamed cameras, missing images).
    pub notes: Vec<String>,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() { "camera".into() } else { s }
}

/// Convert `settings` (the JSON text of a camera_proxy `settings.json` in
/// `settings_dir`) into camera entries. Ids start at `first_id`; names in
/// `taken` are avoided; password files go to `password_dir`, and
/// `password_ref` says how the TOML names them (relative or absolute).
pub fn convert(
    settings: &str,
    settings_dir: &Path,
    first_id: u32,
    taken: &HashSet<String>,
    password_dir: &Path,
    relative_password_paths: bool,
) -> anyhow::Result<Imported> {
    let s: Settings =
        serde_json::from_str(settings).context("settings.json: expected {\"cameras\": [...]}")?;
    let mut out = Imported {
        toml: String::new(),
        password_files: Vec::new(),
        notes: Vec::new(),
    };
    let mut names = taken.clone();
    for (i, c) in s.cameras.iter().enumerate() {
        let id = first_id
            .checked_add(i as u32)
            .context("camera ids run out")?;
        let mut name = safe_name(&c.name);
        if names.contains(&name) {
            name = format!("{name}-{id}");
        }
        if name != c.name {
            out.notes.push(format!(
                "camera {:?} is named {name:?} (URL-safe and unique)",
                c.name
            ));
        }
        names.insert(name.clone());
        let mut t = String::new();
        let _ = writeln!(t, "\n# Imported from camera_proxy ({:?}).", c.name);
        let _ = writeln!(t, "[[camera]]\nid = {id}\nname = {}", quote(&name));
        let _ = writeln!(
            t,
            "kind = \"reolink\"\ntransport = \"udp\"\nuid = {}",
            quote(&c.device_sid)
        );
        if let Some(ip) = c.ipaddress.as_deref().filter(|s| !s.is_empty()) {
            let ip: IpAddr = ip.parse().with_context(|| {
                format!("camera {:?}: ipaddress {ip:?} is not an IP address", c.name)
            })?;
            let _ = writeln!(t, "ip = {}", quote(&ip.to_string()));
        }
        if let Some(p) = c.comm_port.filter(|p| *p != 0) {
            let _ = writeln!(t, "local_port = {p}");
        }
        let _ = writeln!(
            t,
            "username = {}",
            quote(c.username.as_deref().unwrap_or("admin"))
        );
        if let Some(pw) = &c.password {
            let file = format!("{name}.password");
            let path = password_dir.join(&file);
            let shown = if relative_password_paths {
                file
            } else {
                path.display().to_string()
            };
            let _ = writeln!(t, "password_file = {}", quote(&shown));
            out.password_files.push((path, pw.clone()));
        }
        if let Some(img) = c.backup_image.as_deref().filter(|s| !s.is_empty()) {
            let p = Path::new(img);
            let resolved = if p.is_absolute() {
                p.to_owned()
            } else {
                // camera_proxy's Flask root_path is src/, next to settings.json.
                let in_src = settings_dir.join("src").join(p);
                let beside = settings_dir.join(p);
                if in_src.exists() || !beside.exists() {
                    in_src
                } else {
                    beside
                }
            };
            let resolved = resolved.canonicalize().unwrap_or(resolved);
            if !resolved.exists() {
                out.notes.push(format!(
                    "camera {name:?}: backupImage {} does not exist",
                    resolved.display()
                ));
            }
            let _ = writeln!(
                t,
                "fallback_image = {}",
                quote(&resolved.display().to_string())
            );
        }
        out.toml.push_str(&t);
    }
    Ok(out)
}

/// Write `password` to `path`, readable by its owner only.
fn write_password(path: &Path, password: &str) -> anyhow::Result<()> {
    crate::config::write_secret_file(path, &format!("{password}\n"))
        .with_context(|| format!("creating {}", path.display()))
}

/// The command: with `config`, append to it (password files beside it);
/// without, print the entries (password files in the current directory).
pub fn run(settings_path: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(settings_path)
        .with_context(|| format!("reading {}", settings_path.display()))?;
    let settings_dir = settings_path.parent().unwrap_or(Path::new(".")).to_owned();
    let (first_id, taken, password_dir, existing) = match config {
        Some(c) => {
            let existing =
                std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?;
            let cfg = Config::parse(&existing, c)?;
            let first = cfg.cameras.iter().map(|c| c.id).max().unwrap_or(0) + 1;
            let taken = cfg.cameras.iter().map(|c| c.name.clone()).collect();
            let dir = c
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned();
            (first, taken, dir, Some(existing))
        }
        None => (1, HashSet::new(), std::env::current_dir()?, None),
    };
    let imported = convert(
        &text,
        &settings_dir,
        first_id,
        &taken,
        &password_dir,
        config.is_some(),
    )?;
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
    match (config, existing) {
        (Some(c), Some(existing)) => {
            let mut combined = existing;
            if !combined.ends_with('\n') {
                combined.push('\n');
            }
            combined.push_str(&imported.toml);
            if let Err(e) = Config::parse(&combined, c) {
                bail!("the imported cameras do not fit into {}: {e}", c.display());
            }
            for (p, pw) in &imported.password_files {
                write_password(p, pw)?;
            }
            std::fs::write(c, combined).with_context(|| format!("writing {}", c.display()))?;
            eprintln!(
                "appended {} camera(s) to {}; passwords in {} file(s) beside it (mode 0600)",
                imported.toml.matches("[[camera]]").count(),
                c.display(),
                imported.password_files.len()
            );
        }
        _ => {
            for (p, pw) in &imported.password_files {
                write_password(p, pw)?;
                eprintln!("wrote {} (mode 0600)", p.display());
            }
            print!("{}", imported.toml);
        }
    }
    Ok(())
}
