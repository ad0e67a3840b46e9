//! Owns the one statement the keeper runs in every region, its own and its
//! peers': `bss.region_heartbeat`, which records this keeper's call there
//! and answers with that region's view. Must never accept an answer from a
//! region other than the one it meant to ask.

use tokio_postgres::Client;

use crate::answer::Answer;
use crate::session::SessionError;

/// $1: the calling keeper's region; $2: whether that keeper is a witness.
pub const HEARTBEAT_SQL: &str = "SELECT bss.region_heartbeat($1::text, $2::boolean)::text";

/// Region `expected`'s answer to the keeper of region `caller`.
pub async fn heartbeat(
    client: &Client,
    caller: &str,
    witness: bool,
    expected: &str,
) -> Result<Answer, SessionError> {
    let row = client
        .query_one(HEARTBEAT_SQL, &[&caller, &witness])
        .await?;
    let answer = Answer::parse(row.try_get::<_, &str>(0)?)?;
    if answer.region != expected {
        return Err(SessionError::WrongRegion {
            expected: expected.to_owned(),
            found: answer.region,
        });
    }
    Ok(answer)
}
