//! Revoked access ends at once: a new password (`hub user add` again, `hub user
//! passwd`) or a removal (`hub user remove`), run as commands while a hub process
//! serves the same database, ends the user's sessions, their API token and their
//! cached Basic credentials on the next request. The account page lists the signed-in
//! user's sessions and signs them out everywhere.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{PASSWORD, TestHub, USER};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use testkit::hub::HubSetup;
use tokio_tungstenite::tungstenite::Message;

/// `hub user SUB NAME --password-stdin` with `password`; the API token it prints.
fn set_password(setup: &HubSetup, sub: &str, password: &str) -> String {
    let mut cmd = setup
        .command()
        .args(["user", sub, USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(cmd.stdin.take().unwrap(), "{password}").unwrap();
    let out = cmd.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "hub user {sub}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("api token "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the API token is printed")
        .to_owned()
}

fn hub_user(setup: &HubSetup, args: &[&str]) -> String {
    let out = setup.command().arg("user").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The status of `GET /api/me` with `cookie` or Basic `password`.
async fn me(base: &str, cookie: Option<&str>, password: Option<&str>) -> u16 {
    let mut req = testkit::http_client().get(format!("{base}/api/me"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(p) = password {
        req = req.basic_auth(USER, Some(p));
    }
    req.send().await.unwrap().status().as_u16()
}

/// Signs in through the form; the session cookie (`hub_session=...`).
async fn login(base: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{base}/login"))
        .header("user-agent", "revocation-test")
        .form(&[("username", USER), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// Whether the seed viewer websocket takes `token` (a frame arrives) or closes.
async fn viewer_accepts(port: u16, token: &str) -> bool {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/video-output-stream"))
            .await
            .unwrap();
    let mut buf = BytesMut::new();
    wire::encode_viewer_hello(
        &wire::ViewerHello {
            camera_id: 1,
            token: token.to_owned(),
        },
        &mut buf,
    );
    ws.send(Message::binary(buf.to_vec())).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => return true,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return false,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("neither a frame nor a close within 10 s"),
        }
    }
}

#[tokio::test]
async fn a_new_password_or_removal_by_the_cli_ends_access_in_the_running_hub() {
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
    )
    .unwrap();
    let token = set_password(&setup, "add", PASSWORD);
    let hub = setup.start_async().await.unwrap();
    let base = setup.url("");

    let cookie = login(&base, PASSWORD).await;
    assert_eq!(me(&base, Some(&cookie), None).await, 200);
    // Basic credentials are verified once and then cached.
    assert_eq!(me(&base, None, Some(PASSWORD)).await, 200);
    assert_eq!(me(&base, None, Some(PASSWORD)).await, 200);
    assert!(viewer_accepts(setup.port, &token).await);
    let listed = hub_user(&setup, &["list"]);
    assert!(
        listed.contains(USER) && listed.contains("sessions 1"),
        "{listed}"
    );

    // A reset through `hub user add`, while the hub runs: the old session, the old
    // Basic password (cached) and the old API token stop working at once.
    let second = "a second password";
    let token2 = set_password(&setup, "add", second);
    assert_eq!(me(&base, Some(&cookie), None).await, 401, "old session");
    assert_eq!(me(&base, None, Some(PASSWORD)).await, 401, "old password");
    assert!(!viewer_accepts(setup.port, &token).await, "old API token");
    assert_eq!(me(&base, None, Some(second)).await, 200);
    assert!(viewer_accepts(setup.port, &token2).await);

    // `hub user passwd` does the same.
    let cookie2 = login(&base, second).await;
    assert_eq!(me(&base, None, Some(second)).await, 200, "cached");
    let third = "a third password";
    let token3 = set_password(&setup, "passwd", third);
    assert_eq!(me(&base, Some(&cookie2), None).await, 401);
    assert_eq!(me(&base, None, Some(second)).await, 401);
    assert!(!viewer_accepts(setup.port, &token2).await);
    assert_eq!(me(&base, None, Some(third)).await, 200);

    // Removal: the cached Basic credentials, the session and the token end too.
    let cookie3 = login(&base, third).await;
    let removed = hub_user(&setup, &["remove", USER]);
    assert!(removed.contains("removed"), "{removed}");
    assert_eq!(me(&base, Some(&cookie3), None).await, 401);
    assert_eq!(me(&base, None, Some(third)).await, 401);
    assert!(!viewer_accepts(setup.port, &token3).await);
    assert!(hub_user(&setup, &["list"]).contains("no users"));
    // `passwd` does not create users.
    let out = setup
        .command()
        .args(["user", "passwd", USER])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user named"));
    assert!(hub.log().contains("hub listening"));
}

#[tokio::test]
async fn the_account_page_lists_sessions_and_signs_out_everywhere() {
    let h = TestHub::start("").await;
    let base = h.url("");
    let first = login(&base, PASSWORD).await;
    let second = login(&base, PASSWORD).await;
    let page = h
        .client()
        .get(h.url("/account"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("revocation-test").count(), 2, "{html}");
    assert_eq!(html.matches("this browser").count(), 1);
    assert!(html.contains("127.0.0.1"));
    assert!(html.contains("Sign out everywhere"));
    // From another site: refused, nothing ended.
    let r = h
        .client()
        .post(h.url("/account/sign-out-everywhere"))
        .header("cookie", &first)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(me(&base, Some(&second), None).await, 200);
    let r = h
        .client()
        .post(h.url("/account/sign-out-everywhere"))
        .header("cookie", &first)
        .header("origin", base.trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(me(&base, Some(&first), None).await, 401);
    assert_eq!(me(&base, Some(&second), None).await, 401);
    // Not signed in: the page sends you to the login.
    let r = h.client().get(h.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    h.stop().await;
}
