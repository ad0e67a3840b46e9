//! No code: this crate exists for its Cargo.toml.
//!
//! Cargo resolves each crate's features per build: `cargo test` includes the
//! dev-dependencies (jsonschema, criterion, proptest), which turn on more
//! features in crates such as serde and serde_json than `cargo build` does.
//! A crate resolved with other features is compiled again, and so is
//! everything above it: `make test` built the workspace's dependencies twice,
//! about 10 of its minutes. As a workspace member this crate's dependencies
//! take part in every `--workspace` build, so the scripts' `cargo build
//! --release --workspace --exclude pg_bss --bins` (scripts/lib.sh,
//! `build_binaries`) reuses what `cargo test` compiled. The usual name of
//! the pattern (cargo-hakari generates such crates) is kept.
//!
//! Must never hold code or be depended on: it only widens features.
