//! The CLI's session: the caller's own credentials, from a libpq URL (TLS
//! as bss-tls reads it) or libpq's PG* variables. Must never fall back to
//! any other role than the one the caller names.

use bss_tls::postgres::SqlConnector;
use tokio_postgres::Client;

use bss_intel::ask::database::QueryError;

/// Connects to `url`, else to what libpq's environment variables name.
pub async fn connect(url: Option<&str>) -> Result<Client, String> {
    let url = match url {
        Some(u) => u.to_owned(),
        None => from_environment()?,
    };
    SqlConnector::from_url(&url)?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to the database: {}", QueryError::from(e)))
}

/// libpq's PGHOST, PGPORT, PGUSER (else USER), PGPASSWORD, PGDATABASE
/// (else the user) and PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY as
/// `key=value` pairs.
fn from_environment() -> Result<String, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let user = var("PGUSER").or_else(|| var("USER"));
    let host = var("PGHOST").unwrap_or_else(|| {
        if std::path::Path::new("/var/run/postgresql").is_dir() {
            "/var/run/postgresql".to_owned()
        } else {
            "localhost".to_owned()
        }
    });
    let pairs = [
        ("host", Some(host)),
        ("port", var("PGPORT")),
        ("user", user.clone()),
        ("password", var("PGPASSWORD")),
        ("dbname", var("PGDATABASE").or(user)),
        ("sslmode", var("PGSSLMODE")),
        ("sslrootcert", var("PGSSLROOTCERT")),
        ("sslcert", var("PGSSLCERT")),
        ("sslkey", var("PGSSLKEY")),
    ];
    let mut out = Vec::new();
    for (key, value) in pairs {
        let Some(value) = value else { continue };
        if value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
            return Err(format!(
                "the {key} from the environment has a space, quote or backslash: give --database-url (or DATABASE_URL) instead"
            ));
        }
        out.push(format!("{key}={value}"));
    }
    Ok(out.join(" "))
}
