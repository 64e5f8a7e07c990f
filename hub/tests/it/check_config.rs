//! `hub check-config` runs the checks `serve` runs on the files a configuration names
//! (the secret file's mode, each camera's `password_file`), and names an unknown key as
//! itself with the nearest known one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use testkit::hub::HubSetup;

fn check_config(setup: &HubSetup) -> (bool, String) {
    let out = setup.command().arg("check-config").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn check_config_refuses_what_serve_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let password = dir.path().join("cam.pass");
    write_mode(&secret, "0123456789abcdef0123456789abcdef\n", 0o600);
    write_mode(&password, "hunter22\n", 0o600);
    let setup = HubSetup::new(
        dir.path(),
        &format!(
            "data_dir = \"data\"\nsecret_file = {:?}\n\n[[camera]]\nid = 1\nname = \"door\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nusername = \"admin\"\npassword_file = {:?}\n",
            secret.display().to_string(),
            password.display().to_string()
        ),
    )
    .unwrap();
    let (ok, err) = check_config(&setup);
    assert!(ok, "{err}");
    assert!(err.contains("ok, 1 cameras"), "{err}");

    // A world-readable secret: serve refuses to start, and so does check-config.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = check_config(&setup);
    assert!(!ok);
    assert!(
        err.contains("secret_file") && err.contains("readable by group or others"),
        "{err}"
    );
    let out = setup.command().output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable by group or others"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A world-readable password file: the camera would fail; check-config says which.
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = check_config(&setup);
    assert!(!ok);
    assert!(
        err.contains("camera[0] (door): password_file")
            && err.contains("readable by group or others"),
        "{err}"
    );
    assert!(!err.contains("hunter22"), "no password in the message");
}

#[test]
fn an_unknown_key_is_named_with_the_nearest_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n\n[[camera]]\nid = 1\nname = \"yard\"\nkind = \"agent\"\nfallback_imag = \"x.jpg\"\n",
    )
    .unwrap();
    let (ok, err) = check_config(&setup);
    assert!(!ok);
    assert!(
        err.contains("unknown key `fallback_imag` (line 8); did you mean `fallback_image`?"),
        "{err}"
    );
    assert!(!err.contains("token_scheme"), "{err}");
}
