//! `bss-intel ask`: plain-language questions answered by whitelisted query
//! templates over pg_bss's read functions and views, never by generated
//! SQL. A question is refused when it asks for a change or is SQL
//! ([`refusal`]); its period, stream id, event type, segment, count and
//! statistic are read by rule ([`extract`]); its nearest template by
//! embedding similarity ([`matcher`]) becomes a [`Plan`]: the template's
//! fixed SQL ([`template`]) and the text of its parameters. A question no
//! template answers gets a [`CannotAnswer`]: why, and the nearest
//! supported questions. [`evaluation`] scores it on a labelled set.
//!
//! Must never put text from a question into SQL: a question only chooses a
//! template and fills its bind parameters. [`database`] runs a question
//! read-only as the caller's own role, for the CLI and the sidecar alike;
//! the rest knows nothing of PostgreSQL.
//!
//! ```no_run
//! use bss_intel::ask::{Answer, Asker};
//! use bss_intel::embedding::{Embedder, MODEL_DIR_IN_REPOSITORY};
//!
//! let asker = Asker::new(Embedder::from_dir(MODEL_DIR_IN_REPOSITORY)?)?;
//! let now = time::OffsetDateTime::now_utc();
//! if let Answer::Plan(plan) = asker.ask("how many payments failed yesterday", now)? {
//!     println!("{} with {:?}", plan.sql, plan.params);
//! }
//! # Ok::<(), bss_intel::embedding::ModelError>(())
//! ```

pub mod database;
pub mod evaluation;
pub mod extract;
pub mod matcher;
pub mod plan;
pub mod refusal;
pub mod template;

pub use matcher::{Asker, Embed};
pub use plan::{Answer, CannotAnswer, Plan, Ranked};
pub use template::{Template, TEMPLATES};
