//! `hub import-camera-proxy settings.json`: camera_proxy's cameras become
//! `[[camera]]` entries of kind "reolink"; passwords go to mode-0600 files,
//! never into the TOML; the result is a configuration the hub accepts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hub::config::{Config, SourceConfig};

const SETTINGS: &str = r#"{
    "cameras": [
        {
            "name": "camera1",
            "deviceSid": "12345678910ABC5D",
            "username": "admin",
            "password": "pa\"ss word",
            "ipaddress": "192.168.1.44",
            "comm_port": 12345,
            "backupImage": "../public/images/klingel.jpg"
        },
        { "name": "Garden Cam", "deviceSid": "99998888ABCD0001", "username": "admin", "password": "x" }
    ]
}"#;

#[test]
fn import_appends_reolink_cameras_with_password_files() {
    let dir = tempfile::tempdir().unwrap();
    // camera_proxy's layout: settings.json at the root, images under public/, Flask root src/.
    let proxy = dir.path().join("camera_proxy");
    std::fs::create_dir_all(proxy.join("src")).unwrap();
    std::fs::create_dir_all(proxy.join("public/images")).unwrap();
    std::fs::write(proxy.join("public/images/klingel.jpg"), b"\xFF\xD8 jpeg").unwrap();
    let settings = proxy.join("settings.json");
    std::fs::write(&settings, SETTINGS).unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let config = etc.join("hub.toml");
    std::fs::write(
        &config,
        "data_dir = \"/tmp/hub-data\"\n[[camera]]\nid = 1\nname = \"front\"\nkind = \"agent\"\n",
    )
    .unwrap();

    hub::import::run(&settings, Some(&config)).unwrap();

    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("pa\\\"ss word") && !text.contains("pa\"ss"),
        "no password in the TOML:\n{text}"
    );
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.cameras.len(), 3);
    let c = &cfg.cameras[1];
    assert_eq!((c.id, c.name.as_str()), (2, "camera1"));
    let SourceConfig::Reolink(r) = &c.source else {
        panic!("{:?}", c.source)
    };
    assert_eq!(r.uid.as_deref(), Some("12345678910ABC5D"));
    assert_eq!(r.ip, Some("192.168.1.44".parse().unwrap()));
    assert_eq!(r.local_port, 12345);
    assert_eq!(r.username, "admin");
    assert!(r.password.is_none());
    let pw_file = r.password_file.clone().unwrap();
    assert_eq!(pw_file, etc.join("camera1.password"));
    assert_eq!(std::fs::read_to_string(&pw_file).unwrap(), "pa\"ss word\n");
    assert_eq!(
        std::fs::metadata(&pw_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        hub::sources::read_password(Some(&pw_file), None).unwrap(),
        "pa\"ss word"
    );
    assert_eq!(
        c.fallback_image.as_deref(),
        Some(
            proxy
                .join("public/images/klingel.jpg")
                .canonicalize()
                .unwrap()
                .as_path()
        )
    );
    // A name that is not URL-safe is made so.
    let g = &cfg.cameras[2];
    assert_eq!((g.id, g.name.as_str()), (3, "Garden_Cam"));
    let SourceConfig::Reolink(r) = &g.source else {
        panic!()
    };
    assert!(r.ip.is_none());
    assert_eq!(r.local_port, 0);
}

#[test]
fn import_without_a_config_prints_entries_that_parse() {
    let dir = tempfile::tempdir().unwrap();
    let out = hub::import::convert(
        SETTINGS,
        dir.path(),
        7,
        &Default::default(),
        Path::new("/etc/camera-hub"),
        false,
    )
    .unwrap();
    assert!(!out.toml.contains("pa\"ss") && !out.toml.contains("pa\\\"ss"));
    assert_eq!(out.password_files.len(), 2);
    let cfg = Config::parse(
        &format!("data_dir = \"d\"\n{}", out.toml),
        Path::new("x.toml"),
    )
    .unwrap();
    assert_eq!(cfg.cameras[0].id, 7);
    assert!(
        out.toml
            .contains("password_file = \"/etc/camera-hub/camera1.password\""),
        "{}",
        out.toml
    );
    // A missing backup image is reported, not fatal.
    assert!(
        out.notes.iter().any(|n| n.contains("backupImage")),
        "{:?}",
        out.notes
    );
}
