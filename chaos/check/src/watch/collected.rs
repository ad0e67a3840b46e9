//! What the watchers have seen so far, shared by the Kafka thread, the
//! Redis thread and the loop that decides when the watch is over. Owns the
//! rule that one Kafka offset or one Redis entry is one arrival however
//! often it is read; must never drop an arrival.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::arrivals::{KafkaArrival, RedisArrival};

/// Arrivals in the order they were seen, and the event ids seen per sink.
#[derive(Default)]
pub struct Seen {
    pub kafka: Vec<KafkaArrival>,
    pub redis: Vec<RedisArrival>,
    pub kafka_ids: HashSet<String>,
    pub redis_ids: HashSet<String>,
    kafka_offsets: HashSet<(String, i32, u32, i64)>,
    redis_entries: HashSet<(String, String)>,
}

impl Seen {
    /// Records a Kafka record, unless that offset (of that epoch) was
    /// recorded before.
    pub fn kafka(&mut self, a: KafkaArrival) {
        if self
            .kafka_offsets
            .insert((a.topic.clone(), a.partition, a.epoch, a.offset))
        {
            self.kafka_ids.insert(a.ce_id.clone());
            self.kafka.push(a);
        }
    }

    /// Records a Redis entry, unless that entry was recorded before.
    pub fn redis(&mut self, a: RedisArrival) {
        if self
            .redis_entries
            .insert((a.key.clone(), a.entry_id.clone()))
        {
            self.redis_ids.insert(a.ce_id.clone());
            self.redis.push(a);
        }
    }
}

impl Seen {
    /// Forgets what was seen in Redis: its keys were removed and written
    /// anew (a rebuild from the store after a restore), so what it holds
    /// now is read again from the start.
    pub fn forget_redis(&mut self) {
        self.redis.clear();
        self.redis_entries.clear();
        self.redis_ids.clear();
    }
}

/// [`Seen`] behind a lock.
#[derive(Default)]
pub struct Collected(Mutex<Seen>);

impl Collected {
    pub fn lock(&self) -> MutexGuard<'_, Seen> {
        // A watcher that panicked mid-insert leaves arrivals that are
        // still arrivals.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Now, in unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
