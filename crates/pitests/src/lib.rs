//! Integration tests only (see `tests/`): the Raspberry Pi builds made by
//! `scripts/build-pi.sh` run under qemu-user against the x86 hub, the systemd
//! units run under systemd as PID 1 in `systemd-nspawn`, and
//! `deploy/deploy.sh` installs over ssh into a prefix on loopback.
