//! deploy/deploy.sh against a real OpenSSH server on loopback (a throwaway
//! host key, an authorized throwaway client key, root, 127.0.0.1 only),
//! installing into a prefix. On the "Pi", `uname`, `systemctl`, `useradd`
//! and `usermod` are stubs in PREFIX/usr/local/sbin (deploy.sh puts it first
//! on PATH with --prefix): the fake `uname -m` drives the target detection,
//! and the stubs log what deploy.sh asked for.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{BUILD_TIMEOUT, cpu_arch, have, root, run_bounded};
use testkit::process::{ChildGuard, free_port, spawn_logged, wait_for_tcp};

struct Ssh {
    _sshd: ChildGuard,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
}

fn start_sshd(dir: &Path) -> Option<Ssh> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !is_root {
        eprintln!("SKIPPED: sshd on loopback needs root");
        return None;
    }
    if !Path::new("/usr/sbin/sshd").exists() || !have("ssh") || !have("scp") {
        // scripts/install-test-deps.sh installs them before the tests; run by
        // hand, install through the same machine-wide lock.
        let ok = Command::new(root().join("scripts/apt-install.sh"))
            .args(["openssh-server", "openssh-client"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: openssh-server cannot be installed");
            return None;
        }
    }
    for k in ["host_key", "client_key"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "pitests", "-f"])
            .arg(dir.join(k))
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap(); // privilege separation directory
    let port = free_port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let sshd = spawn_logged(
        Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config),
        "sshd",
    )
    .unwrap();
    wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(10)).unwrap();
    Some(Ssh {
        _sshd: sshd,
        port,
        key: dir.join("client_key"),
        known_hosts: dir.join("known_hosts"),
    })
}

/// A fake Pi: stubs first on PATH under `prefix`; `uname -m` says `machine`.
fn fake_pi(prefix: &Path, machine: &str) {
    fake_pi_bits(prefix, machine, 64);
}

/// [`fake_pi`] whose userland is `bits` wide (`getconf LONG_BIT`).
fn fake_pi_bits(prefix: &Path, machine: &str, bits: u32) {
    let sbin = prefix.join("usr/local/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    std::fs::write(prefix.join("machine"), machine).unwrap();
    std::fs::write(prefix.join("bits"), bits.to_string()).unwrap();
    let p = prefix.display();
    let stubs = [
        (
            "uname",
            format!(
                "if [ \"$1\" = -m ]; then cat {p}/machine; echo; else exec /usr/bin/uname \"$@\"; fi"
            ),
        ),
        (
            "systemctl",
            format!(
                "echo \"systemctl $*\" >> {p}/systemctl.log\n\
                 case \"$1\" in is-active) [ -e {p}/active ] && {{ echo active; exit 0; }}; echo inactive; exit 3;; \
                 enable|restart|start) touch {p}/active;; esac; exit 0"
            ),
        ),
        (
            "getconf",
            format!(
                "if [ \"$1\" = LONG_BIT ]; then cat {p}/bits; echo; else exec /usr/bin/getconf \"$@\"; fi"
            ),
        ),
        ("useradd", format!("echo \"useradd $*\" >> {p}/users.log")),
        ("usermod", format!("echo \"usermod $*\" >> {p}/users.log")),
    ];
    for (name, body) in stubs {
        let f = sbin.join(name);
        std::fs::write(&f, format!("#!/bin/sh\n{body}\n")).unwrap();
        Command::new("chmod").arg("755").arg(&f).status().unwrap();
    }
}

fn deploy(ssh: &Ssh, prefix: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("deploy/deploy.sh"))
        .arg("root@127.0.0.1")
        .args(["--port", &ssh.port.to_string()])
        .arg("--identity")
        .arg(&ssh.key)
        .arg("--prefix")
        .arg(prefix)
        .args(args)
        .env(
            "DEPLOY_SSH_OPTS",
            format!(
                "-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new",
                ssh.known_hosts.display()
            ),
        )
        .env("CARGO_TARGET_DIR", root().join("target-pi"));
    let (status, log) = run_bounded(&mut cmd, "deploy.sh", BUILD_TIMEOUT).unwrap();
    eprintln!("{log}");
    (status.success(), log)
}

#[test]
fn detects_the_target_from_uname() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(ssh) = start_sshd(tmp.path()) else {
        return;
    };
    let prefix = tmp.path().join("pi");
    for (machine, target) in [
        ("aarch64", "aarch64-unknown-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu"),
        ("armv7l", "armv7-unknown-linux-gnueabihf"),
        ("armv6l", "arm-unknown-linux-musleabihf"),
        ("x86_64", "x86_64-unknown-linux-gnu"),
    ] {
        fake_pi(&prefix, machine);
        let (ok, log) = deploy(&ssh, &prefix, &["--detect-only"]);
        assert!(ok, "{machine}: {log}");
        // stdout (the target alone on a line) and stderr interleave in the log
        assert!(
            log.lines().any(|l| l == target),
            "uname -m {machine}: want {target}"
        );
    }
    // 32-bit Raspberry Pi OS on a 64-bit kernel runs armhf binaries.
    fake_pi_bits(&prefix, "aarch64", 32);
    let (ok, log) = deploy(&ssh, &prefix, &["--detect-only"]);
    assert!(ok, "{log}");
    assert!(
        log.lines().any(|l| l == "armv7-unknown-linux-gnueabihf"),
        "{log}"
    );
    fake_pi(&prefix, "mips");
    let (ok, log) = deploy(&ssh, &prefix, &["--detect-only"]);
    assert!(!ok && log.contains("unsupported CPU 'mips'"), "{log}");
    assert!(!prefix.join("usr/local/bin/agent").exists());
}

#[test]
fn installs_over_ssh_keeps_config_and_recordings_and_upgrades() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(ssh) = start_sshd(tmp.path()) else {
        return;
    };
    let prefix = tmp.path().join("pi");
    fake_pi(&prefix, "aarch64");
    let token = tmp.path().join("token");
    std::fs::write(&token, "0123456789abcdef\n").unwrap();

    let (ok, log) = deploy(&ssh, &prefix, &["--token-file", token.to_str().unwrap()]);
    if log.contains("cannot set up the toolchain") {
        eprintln!("SKIPPED: the cross toolchain cannot be installed here");
        return;
    }
    assert!(ok, "first deploy failed");
    let bin = prefix.join("usr/local/bin/agent");
    assert_eq!(cpu_arch(&bin), "AArch64", "uname -m said aarch64");
    let read =
        |p: &str| std::fs::read_to_string(prefix.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        read("etc/systemd/system/agent.service"),
        std::fs::read_to_string(root().join("systemd/agent.service")).unwrap()
    );
    let example = std::fs::read_to_string(root().join("agent/agent.example.toml")).unwrap();
    assert_eq!(read("etc/camera-agent/agent.toml"), example);
    assert_eq!(read("etc/camera-agent/agent.toml.example"), example);
    assert_eq!(read("etc/camera-agent/token"), "0123456789abcdef\n");
    assert!(
        prefix
            .join("usr/local/share/doc/camera/README.md")
            .is_file()
    );
    assert!(prefix.join("var/lib/camera-agent").is_dir());
    let users = read("users.log");
    assert!(
        users.contains("useradd --system --user-group --groups video")
            && users.contains("camera-agent"),
        "{users}"
    );
    let sc = read("systemctl.log");
    assert!(
        sc.contains("systemctl daemon-reload\n") && sc.contains("systemctl enable --now agent\n"),
        "{sc}"
    );

    // The admin edits the config and the agent records; a re-run upgrades in place.
    let mine = format!("{example}\n# edited on the Pi\n");
    std::fs::write(prefix.join("etc/camera-agent/agent.toml"), &mine).unwrap();
    std::fs::write(prefix.join("etc/camera-agent/token"), "my-token\n").unwrap();
    std::fs::create_dir_all(prefix.join("var/lib/camera-agent/recordings")).unwrap();
    std::fs::write(
        prefix.join("var/lib/camera-agent/recordings/2026-01-01T00-00-00.000Z.mp4"),
        b"segment",
    )
    .unwrap();
    std::fs::remove_file(prefix.join("systemctl.log")).unwrap();
    let (ok, log) = deploy(&ssh, &prefix, &["--token-file", token.to_str().unwrap()]);
    assert!(ok, "second deploy failed");
    assert!(log.contains("kept the existing"), "{log}");
    assert_eq!(
        read("etc/camera-agent/agent.toml"),
        mine,
        "config overwritten"
    );
    assert_eq!(
        read("etc/camera-agent/token"),
        "my-token\n",
        "token overwritten"
    );
    assert_eq!(
        read("var/lib/camera-agent/recordings/2026-01-01T00-00-00.000Z.mp4"),
        "segment"
    );
    let sc = read("systemctl.log");
    assert!(
        sc.contains("systemctl restart agent\n"),
        "a running agent is restarted: {sc}"
    );

    // A Pi Zero W (armv6l) gets the ARMv6 build.
    let zero = tmp.path().join("zero");
    fake_pi(&zero, "armv6l");
    let (ok, _) = deploy(&ssh, &zero, &["--no-systemctl"]);
    assert!(ok, "deploy to the armv6l host failed");
    assert_eq!(
        cpu_arch(&zero.join("usr/local/bin/agent")),
        "v6",
        "uname -m said armv6l"
    );
    assert!(
        !zero.join("systemctl.log").exists(),
        "--no-systemctl ran systemctl"
    );
}
