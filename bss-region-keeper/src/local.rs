//! Owns the keeper's session with its own region's PostgreSQL: connected
//! when first needed and again after any error, with this region's name
//! read at each connection, and the statements the keeper runs there: the
//! heartbeat and the list of peers that open a round, the lease renewal and
//! the takeovers that close it. Must never keep a session after an error of
//! it, and never renew a lease or move a region on its own: it runs what
//! the round's decision hands it.

use std::time::Duration;

use tokio_postgres::Client;

use crate::answer::Answer;
use crate::decide::{LeaseEnd, Renewal, Takeover};
use crate::heartbeat::heartbeat;
use crate::session::{connect, within, SessionError};

pub const LOCAL_REGION_SQL: &str = "SELECT bss.local_region()";
pub const PEERS_SQL: &str = "SELECT region, conninfo FROM bss.regions ORDER BY region";
/// The lease ends at the local heartbeat's `now` ($1) plus its length ($2,
/// an interval as text): both times of one clock, the database's.
pub const RENEW_FOR_SQL: &str =
    "SELECT bss.renew_region_lease($1::text::timestamptz + $2::text::interval, $3::text)";
pub const RENEW_UNTIL_RESTART_SQL: &str =
    "SELECT bss.renew_region_lease('infinity'::timestamptz, $1::text)";
/// $1: the home region, $2: this region, $3: why. Answers the new epoch.
pub const MOVE_REGION_SQL: &str = "SELECT bss.move_region($1::text, $2::text, $3::text)";

/// What a round starts from: this region's answer and its peers.
#[derive(Debug)]
pub struct Opening {
    pub answer: Answer,
    /// (region, conninfo) of each row of `bss.regions`.
    pub peers: Vec<(String, String)>,
}

struct Session {
    client: Client,
    region: String,
}

pub struct LocalDb {
    url: String,
    /// Bounds connecting and each step here: a step that outlasts a lease
    /// is of no use to it.
    timeout: Duration,
    session: Option<Session>,
}

impl LocalDb {
    pub fn new(url: String, timeout: Duration) -> LocalDb {
        LocalDb {
            url,
            timeout,
            session: None,
        }
    }

    /// This region's heartbeat (as a witness or not) and its peers.
    pub async fn open_round(&mut self, witness: bool) -> Result<Opening, SessionError> {
        let result = within(
            self.timeout,
            open(&mut self.session, &self.url, self.timeout, witness),
        )
        .await;
        self.end_on_error(result)
    }

    /// Renews this region's lease, from the local heartbeat's `now`.
    pub async fn renew(&mut self, now: &str, renewal: &Renewal) -> Result<(), SessionError> {
        let result = match &self.session {
            None => Err(SessionError::NotConnected),
            Some(s) => {
                let reason = &renewal.reason;
                within(self.timeout, async {
                    match renewal.until {
                        LeaseEnd::After(ttl) => {
                            let length = format!("{} milliseconds", ttl.as_millis());
                            s.client
                                .execute(RENEW_FOR_SQL, &[&now, &length, reason])
                                .await
                        }
                        LeaseEnd::Infinity => {
                            s.client.execute(RENEW_UNTIL_RESTART_SQL, &[reason]).await
                        }
                    }
                    .map_err(SessionError::from)
                })
                .await
            }
        };
        self.end_on_error(result).map(|_| ())
    }

    /// Moves `takeover.home` to this region; answers the new epoch.
    pub async fn take_over(&mut self, takeover: &Takeover) -> Result<i64, SessionError> {
        let result = match &self.session {
            None => Err(SessionError::NotConnected),
            Some(s) => {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                    [&takeover.home, &s.region, &takeover.reason];
                within(self.timeout, async {
                    let row = s.client.query_one(MOVE_REGION_SQL, &params).await?;
                    Ok(row.try_get(0)?)
                })
                .await
            }
        };
        self.end_on_error(result)
    }

    fn end_on_error<T>(&mut self, result: Result<T, SessionError>) -> Result<T, SessionError> {
        if result.is_err() {
            self.session = None;
        }
        result
    }
}

/// Connects when there is no open session, then opens the round.
async fn open(
    slot: &mut Option<Session>,
    url: &str,
    timeout: Duration,
    witness: bool,
) -> Result<Opening, SessionError> {
    if slot.as_ref().is_none_or(|s| s.client.is_closed()) {
        *slot = None;
        let client = connect(url, timeout).await?;
        // Once a session: the name comes from postgresql.conf (bss.region).
        let region = client.query_one(LOCAL_REGION_SQL, &[]).await?.try_get(0)?;
        *slot = Some(Session { client, region });
    }
    let s = slot.as_ref().ok_or(SessionError::NotConnected)?;
    let answer = heartbeat(&s.client, &s.region, witness, &s.region).await?;
    let peers = s
        .client
        .query(PEERS_SQL, &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(Opening { answer, peers })
}
