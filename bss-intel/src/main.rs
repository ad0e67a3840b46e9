//! `bss-intel`: event intelligence from the command line, over JSON lines.
//!
//! - `bss-intel train`: labelled examples (`{"text", "class"}` per line) on
//!   standard input to a classifier file.
//! - `bss-intel classify`: tickets (`{"text", ...}` per line) on standard
//!   input to one line each with `class`, `confidence`, `sentiment`,
//!   `priority`, `team` and `rule`.
//! - `bss-intel evaluate`: a classifier against a held-out labelled set:
//!   per-class precision, recall and F1, macro-F1, CPU per ticket.
//! - `bss-intel forecast`: rate forecasts backtested on counts per minute.
//! - `bss-intel ask "question"`: a plain-language question answered from
//!   pg_bss by a whitelisted query template, as the caller's role.
//!
//! Everything runs offline from the files `scripts/intel_data.sh` fetched.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
