//! Integration tests only (see `tests/`): `scripts/vm-capture.sh` boots
//! Debian's kernel in qemu with vivid, v4l2loopback and vimc; the agent built
//! by `cargo build` runs in the guest against those drivers and pushes over
//! the guest's user-mode network to a hub on the host's loopback.
