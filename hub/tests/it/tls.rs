//! TLS on the hub: with `[tls]` set it serves HTTPS only, the session
//! cookie is `Secure`, and a peer that never finishes its handshake is dropped.

use std::process::Command;

use crate::common::{PASSWORD, TestHub, USER};

fn make_cert(dir: &std::path::Path) -> Option<(String, String)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then(|| (cert.display().to_string(), key.display().to_string()))
}

fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl").args(args).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_secure_cookies() {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, key)) = make_cert(certs.path()) else {
        eprintln!("skipping: the openssl command is not available to make a test certificate");
        return;
    };
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipping: curl is not installed");
        return;
    }
    let h = TestHub::start(&format!(
        "[connections]\ntls_handshake_timeout = \"2s\"\n[tls]\ncert = {cert:?}\nkey = {key:?}\n[[camera]]\nid = 1\nname = \"cam\"\nkind = \"agent\"\n"
    ))
    .await;
    let base = format!("https://{}", h.addr);
    let (b, u, p) = (base.clone(), USER.to_owned(), PASSWORD.to_owned());
    let login = tokio::task::spawn_blocking(move || {
        curl(&[
            "-sk",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--max-time",
            "20",
            "--data-urlencode",
            &format!("username={u}"),
            "--data-urlencode",
            &format!("password={p}"),
            &format!("{b}/login"),
        ])
    })
    .await
    .unwrap()
    .unwrap();
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no session cookie over HTTPS:\n{login}"));
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");

    // Plain HTTP on the same port gets no page.
    let plain = format!("http://{}/login", h.addr);
    let body = tokio::task::spawn_blocking(move || curl(&["-s", "--max-time", "5", &plain]))
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        !body.contains("login-form"),
        "served a page over plain HTTP"
    );

    // Peers that stall in the handshake (silent, or half a ClientHello) are
    // closed after `tls_handshake_timeout`.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for first in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        s.write_all(first).await.unwrap();
        let t = std::time::Instant::now();
        let mut b = [0u8; 64];
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("a stalled handshake is dropped");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let waited = t.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(1500),
            "dropped only at the timeout: {waited:?}"
        );
    }
    h.stop().await;
}
