//! The chaos suite's checker: an account of every event the load generator sent, against PostgreSQL, Kafka and Redis.
//! (Being written; see issue 22.)

fn main() {}
