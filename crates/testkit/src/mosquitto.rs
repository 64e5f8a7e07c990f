//! A real Mosquitto broker on a loopback port, with a password file and no anonymous
//! access, that a test can stop and start again on the same port. Skips (returns
//! `None` from [`Mosquitto::available`]) when Debian's `mosquitto` is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ChildGuard, free_port, spawn_logged};

pub const USER: &str = "hub";
pub const PASSWORD: &str = "mqtt password for the hub";

/// A broker the test owns; stopped when dropped.
pub struct Mosquitto {
    pub port: u16,
    /// A second listener speaking TLS, when started with [`Mosquitto::start_with_tls`].
    pub tls_port: Option<u16>,
    conf: PathBuf,
    child: Option<ChildGuard>,
}

impl Mosquitto {
    /// Whether `mosquitto` and `mosquitto_passwd` are installed.
    pub fn available() -> bool {
        Path::new("/usr/sbin/mosquitto").is_file()
            && Path::new("/usr/bin/mosquitto_passwd").is_file()
    }

    /// Writes a config and password file ([`USER`], [`PASSWORD`]) under `dir` and starts
    /// the broker on a free loopback port.
    pub async fn start(dir: &Path) -> Result<Mosquitto> {
        Self::start_inner(dir, None).await
    }

    /// [`Mosquitto::start`] with a second listener on [`Mosquitto::tls_port`] that speaks
    /// TLS with the PEM certificate chain `cert` and key `key` (same users).
    pub async fn start_with_tls(dir: &Path, cert: &Path, key: &Path) -> Result<Mosquitto> {
        Self::start_inner(dir, Some((cert, key))).await
    }

    async fn start_inner(dir: &Path, tls: Option<(&Path, &Path)>) -> Result<Mosquitto> {
        let port = free_port();
        let passwd = dir.join("mosquitto.passwd");
        let out = Command::new("/usr/bin/mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD])
            .output()
            .context("running mosquitto_passwd")?;
        if !out.status.success() {
            bail!("mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
        }
        let conf = dir.join("mosquitto.conf");
        // `user root`: run as the test's user, which owns the files (no switch to the
        // `mosquitto` account, which could not read them).
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                 persistence false\nuser root\nlog_dest stdout\nlog_type error\n\
                 log_type warning\nlog_type notice\nlog_type information\n",
                passwd.display()
            ),
        )?;
        let tls_port = tls.map(|_| free_port());
        if let (Some((cert, key)), Some(p)) = (tls, tls_port) {
            let mut text = std::fs::read_to_string(&conf)?;
            text.push_str(&format!(
                "listener {p} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
                cert.display(),
                key.display()
            ));
            std::fs::write(&conf, text)?;
        }
        let mut m = Mosquitto {
            port,
            tls_port,
            conf,
            child: None,
        };
        m.restart().await?;
        Ok(m)
    }

    /// Starts the broker again (same port, same users; nothing retained survives).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        let child = spawn_logged(
            Command::new("/usr/sbin/mosquitto")
                .arg("-c")
                .arg(&self.conf),
            "mosquitto",
        )?;
        // Up once it accepts connections.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "mosquitto did not listen on {}:\n{}",
                    self.port,
                    child.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the broker (its clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        self.child.as_ref().map(|c| c.log()).unwrap_or_default()
    }
}
