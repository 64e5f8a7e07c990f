//! Dependency rule: the protocol crate does no I/O and must not depend on tokio
//! (`cargo tree -p baichuan -e normal` must not list it). Checked on the manifest so the
//! test needs no network or cargo invocation.

#[test]
fn manifest_has_no_runtime_dependency() {
    let manifest = include_str!("../../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for banned in ["tokio", "async-std", "smol", "mio"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(banned)),
            "{banned} in [dependencies]"
        );
    }
}
