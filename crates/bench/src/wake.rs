//! `bench-wake`: how long a live viewer waits for the first frame of a battery camera
//! that sleeps (`stream = "on-demand"`: UDP discovery, login, start of the stream, the
//! first key frame, through the hub to the MSE websocket) against the same camera kind
//! kept awake (`stream = "always"`, the baseline: the frames the hub already has), in the
//! same run. The cameras are `reolink::sim` battery cameras (BcUdp on loopback, 15 fps, a
//! key frame each second, as a real camera starts its stream with one); the hub is the
//! release binary as a process. Each run waits until the sleeping camera's session has
//! ended before asking for it.
//!
//! Prints one row per run and appends it to `--json`.
//! Run: `cargo build --release -p hub -p bench && target/release/bench-wake`.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Parser;
use futures_util::StreamExt;
use reolink::sim::{SimCamera, SimConfig, SimHandle, SimTransport};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Debug, Parser)]
struct Args {
    /// Wakes measured (each against one request to the awake camera).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Append one JSON line per measured run to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-1";
const SIM_PASSWORD: &str = "password";

fn camera(id: u32, name: &str, port: u16, pw: &std::path::Path, keys: &str) -> String {
    format!(
        "[[camera]]\nid = {id}\nname = \"{name}\"\nkind = \"reolink\"\ntransport = \"udp\"\n\
         uid = \"95270000SIMCAM01\"\nip = \"127.0.0.1\"\nport = {port}\n\
         password_file = {:?}\n{keys}",
        pw.display().to_string()
    )
}

/// Milliseconds from the MSE websocket request to its first video fragment.
async fn first_frame_ms(port: u16, name: &str) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let mut req =
        format!("ws://127.0.0.1:{port}/api/v1/cameras/{name}/live.mp4.ws").into_client_request()?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse()?);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .context("websocket connect timed out")??;
    let mut binary = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => {
                binary += 1;
                // The first binary message is the init segment; the next is a frame.
                if binary == 2 {
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    let _ = ws.close(None).await;
                    return Ok(ms);
                }
            }
            Ok(Some(Ok(_))) => {}
            other => bail!("{name}: the live websocket ended: {other:?}"),
        }
    }
}

/// Waits until `sim` has no session (the camera sleeps).
async fn asleep(sim: &SimHandle) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.open_sessions() > 0 {
        if Instant::now() > deadline {
            bail!("the on-demand camera did not go to sleep");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let awake = SimCamera::start(SimConfig::new(SimTransport::Udp)).await?;
    let sleeper = SimCamera::start(SimConfig::new(SimTransport::Udp)).await?;
    let dir = tempfile::tempdir()?;
    let pw = dir.path().join("cam.password");
    std::fs::write(&pw, SIM_PASSWORD)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))?;
    }
    let body = format!(
        "data_dir = \"data\"\n{}{}",
        camera(1, "awake", awake.port(), &pw, "stream = \"always\"\n"),
        camera(
            2,
            "sleeper",
            sleeper.port(),
            &pw,
            "stream = \"on-demand\"\nidle_timeout = \"1s\"\n"
        ),
    );
    let setup = testkit::hub::HubSetup::new(dir.path(), &body)?;
    setup.add_user(USER, PASSWORD)?;
    let _hub = setup.start_async().await?;
    // The awake camera streams before it is measured.
    let deadline = Instant::now() + Duration::from_secs(30);
    while awake.active_streams() == 0 {
        if Instant::now() > deadline {
            bail!("the always-on camera does not stream");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    println!("machine: {}", bench::machine());
    println!("| run | always: first frame ms | on-demand, asleep: first frame ms | ratio |");
    println!("|---|---|---|---|");
    let (mut base, mut woken) = (Vec::new(), Vec::new());
    for run in 0..args.repeats {
        let a = first_frame_ms(setup.port, "awake").await?;
        asleep(&sleeper).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = first_frame_ms(setup.port, "sleeper").await?;
        println!("| {run} | {a:.1} | {s:.1} | {:.1} |", s / a);
        bench::record(
            args.json.as_deref(),
            "wake",
            &[],
            &[("run", run as f64), ("always_ms", a), ("wake_ms", s)],
        )?;
        base.push(a);
        woken.push(s);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, s) = (median(&mut base), median(&mut woken));
    let max = woken.iter().copied().fold(0.0, f64::max);
    println!(
        "median: always {a:.1} ms, woken {s:.1} ms ({:.1}x), slowest wake {max:.1} ms",
        s / a
    );
    Ok(())
}
