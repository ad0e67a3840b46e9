//! One workload client: its own connection, reconnecting on its own after
//! a loss, looping until the deadline over reads and appends of the pool's
//! streams, and recording each operation with both of its times and its
//! outcome. Owns the choice of operation, value and expected version; it
//! must never retry an operation whose outcome is unknown (the checker
//! resolves those) and never judge what it recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::{debug, warn};

use crate::history::{Action, Clock, Operation, Outcome};
use crate::store::Session;
use crate::stream_pool::StreamPool;

/// Values of client c are c * VALUES_PER_CLIENT + 1, + 2, ...: unique in
/// the run as long as no client makes this many appends.
pub const VALUES_PER_CLIENT: i64 = 1_000_000_000;
/// The first pause before reconnecting; it doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Short: a client back within a second of the database sees the fault end.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What one client needs to run.
pub struct ClientConfig {
    /// 1-based; part of every value it appends.
    pub id: u32,
    pub database_url: String,
    pub run_id: String,
    /// This client's own seed (the run's seed and its id).
    pub seed: u64,
    /// No operation starts after this.
    pub deadline: Instant,
    pub clock: Clock,
    /// At most one operation started per this long (None: no pause).
    pub pace: Option<Duration>,
}

/// Runs one client until the deadline; returns its operations in order.
pub async fn run_client(config: ClientConfig, pool: Arc<StreamPool>) -> Vec<Operation> {
    let mut client = Client {
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        last_read_version: HashMap::new(),
        appended: 0,
        history: Vec::new(),
        config,
        pool,
    };
    client.run().await;
    client.history
}

struct Client {
    config: ClientConfig,
    pool: Arc<StreamPool>,
    rng: ChaCha8Rng,
    /// The version of each stream as this client last read it.
    last_read_version: HashMap<String, i64>,
    appended: i64,
    history: Vec<Operation>,
}

impl Client {
    async fn run(&mut self) {
        let mut backoff = FIRST_BACKOFF;
        let mut next_start = Instant::now();
        while Instant::now() < self.config.deadline {
            let session = match Session::connect(&self.config.database_url, &self.config.run_id)
                .await
            {
                Ok(session) => session,
                Err(e) => {
                    warn!(client = self.config.id, error = %e, ?backoff, "cannot connect; retrying");
                    tokio::time::sleep(backoff.min(self.time_left())).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = FIRST_BACKOFF;
            while Instant::now() < self.config.deadline {
                if let Some(pace) = self.config.pace {
                    // Slots missed (a slow operation, a reconnect) are not made up.
                    next_start = next_start.max(Instant::now() - pace) + pace;
                    tokio::time::sleep_until(next_start.min(self.config.deadline).into()).await;
                    if Instant::now() >= self.config.deadline {
                        break;
                    }
                }
                let definite = self.one_operation(&session).await;
                // After an unknown outcome the connection may be stuck
                // mid-statement or gone: start a new one.
                if !definite || session.is_closed() {
                    debug!(client = self.config.id, "reconnecting");
                    break;
                }
            }
        }
    }

    fn time_left(&self) -> Duration {
        self.config
            .deadline
            .saturating_duration_since(Instant::now())
    }

    /// Reads or appends once and records it; false when the outcome is unknown.
    async fn one_operation(&mut self, session: &Session) -> bool {
        let clock = self.config.clock;
        let (stream, invoked, action) = if self.rng.random_bool(0.5) {
            let stream = self.pool.pick(&mut self.rng);
            let invoked = clock.now();
            let outcome = session.read(&stream).await;
            if let Outcome::Ok { result } = &outcome {
                let version = result.last().map_or(0, |e| e.version);
                self.last_read_version.insert(stream.clone(), version);
            }
            (stream, invoked, Action::Read { outcome })
        } else {
            let stream = self.pool.pick_for_append(&mut self.rng);
            self.appended += 1;
            let value = i64::from(self.config.id) * VALUES_PER_CLIENT + self.appended;
            // Half of the appends name the version this client last read
            // (and may conflict), half take any version.
            let expected_version = match self.rng.random_bool(0.5) {
                true => self.last_read_version.get(&stream).copied(),
                false => None,
            };
            let invoked = clock.now();
            let outcome = session.append(&stream, value, expected_version).await;
            (
                stream,
                invoked,
                Action::Append {
                    value,
                    expected_version,
                    outcome,
                },
            )
        };
        let completed = clock.now();
        let definite = !action.is_unknown();
        self.history.push(Operation {
            client: self.config.id,
            stream,
            invoked,
            completed,
            action,
        });
        definite
    }
}
