//! `hub`: the camera hub. Argument parsing, logging and dispatch only; the
//! work is in `cmds`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hub::cmds;

#[derive(Debug, Parser)]
#[command(
    name = "hub",
    version,
    about = "Camera hub: live view, recordings and camera bridges"
)]
struct Cli {
    /// The configuration file (see deploy/hub.example.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the hub (the default when --config is given).
    Serve,
    /// Run on an embedded default: a test-pattern camera, data in ./hub-data,
    /// 127.0.0.1:8080; prints the URL and a generated login.
    Demo {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Print the token the agent of camera ID must present.
    Token { id: u32 },
    /// Manage users.
    #[command(subcommand)]
    User(cmds::user::UserCmd),
    /// Check the configuration file and exit.
    CheckConfig,
    /// Reconcile the recordings index with the files (also run at start-up):
    /// recover torn segments, index files without rows, drop rows without files.
    /// With --offsite: check the off-site bucket against the index instead.
    Check {
        /// Report segments the index says the bucket holds that are missing or differ
        /// (size, SHA-256); exits non-zero if any.
        #[arg(long)]
        offsite: bool,
        /// With --offsite: download and hash every object (decrypting it if encrypted).
        #[arg(long, requires = "offsite")]
        deep: bool,
        /// With --offsite: only this camera's segments.
        #[arg(long, requires = "offsite")]
        camera: Option<String>,
    },
    /// Rebuild the recordings index from the off-site bucket (after the hub was lost):
    /// every segment it holds is listed and played from there. Running it again adds
    /// only what is new.
    Restore {
        /// Read the `[offsite]` bucket of the configuration (the only source today).
        #[arg(long, required = true)]
        from_offsite: bool,
        /// Only this camera's segments.
        #[arg(long)]
        camera: Option<String>,
    },
    /// Convert camera_proxy's settings.json into `[[camera]]` entries of kind
    /// "reolink": appended to --config FILE if given, else printed. Passwords
    /// go to mode-0600 files, never into the TOML.
    ImportCameraProxy { settings: PathBuf },
    /// Index Pi-Cam's recordings (DD-MM-YYYY_HHhMMmSSs.mp4 and .h264 in DIR) as
    /// segments of camera NAME, by the time in their names; files are copied (rewrapped
    /// by ffmpeg, no re-encoding), never moved. Run it with the hub stopped; running it
    /// again imports only what is new.
    ImportPicam {
        dir: PathBuf,
        /// The camera (its `name` in the configuration) the recordings belong to.
        #[arg(long)]
        camera: String,
        /// The IANA time zone Pi-Cam's Pi ran in (its names are local time);
        /// default: this machine's.
        #[arg(long)]
        time_zone: Option<String>,
        /// The ffmpeg program.
        #[arg(long, default_value_os_t = cmds::import_picam::default_ffmpeg())]
        ffmpeg: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match (cli.cmd, cli.config.as_deref()) {
        (Some(Cmd::Demo { data_dir, listen }), _) => cmds::demo::run(data_dir, listen),
        (Some(Cmd::Token { id }), cfg) => cmds::token::run(cfg, id),
        (Some(Cmd::User(u)), cfg) => cmds::user::run(cfg, u),
        (
            Some(Cmd::Check {
                offsite: true,
                deep,
                camera,
            }),
            cfg,
        ) => cmds::offsite::check(cfg, camera.as_deref(), deep),
        (Some(Cmd::Check { .. }), cfg) => cmds::check::run(cfg),
        (Some(Cmd::Restore { camera, .. }), cfg) => cmds::offsite::restore(cfg, camera.as_deref()),
        (Some(Cmd::ImportCameraProxy { settings }), cfg) => hub::import::run(&settings, cfg),
        (
            Some(Cmd::ImportPicam {
                dir,
                camera,
                time_zone,
                ffmpeg,
            }),
            cfg,
        ) => cmds::import_picam::run(cfg, &dir, &camera, time_zone.as_deref(), &ffmpeg),
        (Some(Cmd::CheckConfig), Some(cfg)) => cmds::serve::check(cfg),
        (Some(Cmd::Serve) | None, Some(cfg)) => cmds::serve::run(cfg),
        (_, None) => Err(anyhow::anyhow!(
            "--config FILE is required (or run `hub demo` to try it out)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub: {e:#}");
            ExitCode::FAILURE
        }
    }
}
