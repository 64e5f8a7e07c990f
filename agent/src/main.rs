//! The agent binary: argument parsing, tracing, runtime, dispatch to `agent::cmds`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Camera agent: capture frames and stream them to the hub"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Configuration file (runs the agent).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Capture and stream (the same as `agent --config FILE`).
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// List V4L2 devices and their formats, and look for rpicam-vid.
    Probe,
    /// Parse and validate a configuration file, and report it.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the token the hub expects for a camera id.
    Token {
        /// File holding the hub's secret.
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// Camera id.
        #[arg(long)]
        id: u32,
        /// hmac-sha256 (default) or legacy-sha256 (the seed server's).
        #[arg(long, default_value = "hmac-sha256")]
        scheme: wire::TokenScheme,
    },
    /// Show what the running agent reports: recording state, segments, bytes used and the
    /// retention forecast (from STATE_DIR/status.json).
    Status {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print the raw status JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set up record.dir as this camera's recordings directory (writes the ownership
    /// marker). Needed once before recording.
    SetupRecording {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Measure the CPU cost per frame of JPEG, H.264 encoding/decoding and recording at
    /// 640x480 and 1280x720 (prints Markdown).
    BenchEncode {
        /// Frames per size.
        #[arg(long, default_value_t = 100)]
        frames: usize,
    },
    /// Measure motion detection's CPU per analysed frame for each source kind at
    /// 640x480, against that source's own capture path, and print a Markdown table.
    BenchMotion {
        /// Frames of the scripted scene per stage and round.
        #[arg(long, default_value_t = 100)]
        frames: usize,
        /// Interleaved rounds; the median round is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.cmd {
        None => match cli.config {
            Some(config) => runtime(agent::cmds::run::run(&config)),
            None => Err(anyhow::anyhow!(
                "give --config FILE to run, or a subcommand (see --help)"
            )),
        },
        Some(Cmd::Run { config }) => runtime(agent::cmds::run::run(&config)),
        Some(Cmd::Probe) => runtime(agent::cmds::probe::run()),
        Some(Cmd::CheckConfig { config }) => agent::cmds::check_config::run(&config),
        Some(Cmd::Token {
            secret_file,
            id,
            scheme,
        }) => agent::cmds::token::run(&secret_file, id, scheme),
        Some(Cmd::Status { config, json }) => agent::cmds::status::run(&config, json),
        Some(Cmd::SetupRecording { config }) => agent::cmds::setup_recording::run(&config),
        Some(Cmd::BenchEncode { frames }) => agent::record::bench::run(frames),
        Some(Cmd::BenchMotion { frames, rounds }) => agent::cmds::bench_motion::run(frames, rounds),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One thread: the Pi Zero has one core, and blocking work has its own threads.
fn runtime<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Logs to stderr; `RUST_LOG` filters (default `info`). Under systemd
/// (journald adds its own timestamps) no time and no colours.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).init();
    } else {
        builder.init();
    }
}
