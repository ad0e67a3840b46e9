//! What the in-database test modules share: one value of a query, and a
//! statement's outcome ("ok" or its error) without aborting the test.

use pgrx::prelude::*;

/// The single non-NULL value `sql` returns.
pub fn one<T: IntoDatum + FromDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

/// Creates `pg_temp.outcome(q text)`: runs `q` and returns "ok" or
/// `SQLSTATE message`. Create it before a `SET ROLE`: another role cannot
/// replace it.
pub fn install_outcome() {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $f$
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM; END $f$",
    )
    .unwrap();
}

/// `SQLSTATE message` of the error `sql` raises, or "ok".
pub fn outcome(sql: &str) -> String {
    install_outcome();
    let quoted = sql.replace('\'', "''");
    one::<String>(&format!("SELECT pg_temp.outcome('{quoted}')"))
}

/// `SQLSTATE message` of the error `sql` raises and, after ` | `, its
/// DETAIL (empty when it has none); or "ok".
pub fn outcome_with_detail(sql: &str) -> String {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.outcome_with_detail(q text) RETURNS text LANGUAGE plpgsql AS $f$
         DECLARE d text;
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN OTHERS THEN
             GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
             RETURN SQLSTATE || ' ' || SQLERRM || ' | ' || coalesce(d, '');
         END $f$",
    )
    .unwrap();
    let quoted = sql.replace('\'', "''");
    one::<String>(&format!("SELECT pg_temp.outcome_with_detail('{quoted}')"))
}
