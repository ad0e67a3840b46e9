//! Owns classifying the backlog: the models (loaded once), and a loop that
//! takes a chunk from the backlog's front, reads its customers' facts and
//! the recent anomalies, runs the model on a blocking thread, routes every
//! ticket and stores the classified events, then drops the chunk from the
//! backlog. Retries while PostgreSQL is unavailable; on a refusal no retry
//! fixes it records why and stops (the stage then stops the sidecar).
//! Must never drop a chunk before its events are committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bss_intel::classify::Classifier;
use bss_intel::embedding::Embedder;
use bss_intel::routing::{Facts, Rules};
use bss_intel::sentiment::Vader;
use tracing::warn;

use super::backlog::Backlog;
use super::config::IntelligenceConfig;
use super::store::{self, Classified, CustomerFacts};
use super::ticket::{Decision, Ticket};
use crate::backoff::{self, Backoff};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::stage::db::Db;

/// The threads the model runs on: `threads` of them, each at `nice`, so
/// that PostgreSQL and the sinks on the same cores come first.
fn model_threads(threads: usize, nice: i32) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("bss-intel-{i}"))
        .start_handler(move |_| {
            // SAFETY: gettid and setpriority take integers; PRIO_PROCESS
            // with a thread id sets that thread's nice value on Linux.
            let rc = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, nice)
            };
            if rc != 0 {
                warn!(stage = super::NAME, nice, error = %std::io::Error::last_os_error(),
                    "could not lower the model thread's priority; it runs at the sidecar's");
            }
        })
        .build()
        .context("[intelligence] starting the model's threads")
}

/// What the stage decides with, loaded once.
pub struct Models {
    embedder: Embedder,
    classifier: Classifier,
    vader: Vader,
    rules: Rules,
}

impl Models {
    /// Loads the model, the classifier, VADER's lexicons and the rules;
    /// the error names the file.
    pub fn load(cfg: &IntelligenceConfig) -> Result<Models> {
        let embedder = Embedder::from_dir_in(cfg.data_dir.join("minilm"), cfg.precision)
            .context("[intelligence] the embedding model")?
            .with_pool(model_threads(cfg.threads, cfg.model_nice)?);
        let classifier =
            Classifier::load(&cfg.classifier_path()).context("[intelligence] the classifier")?;
        if classifier.dimensions() != embedder.dimensions() {
            anyhow::bail!(
                "[intelligence] the classifier {} takes vectors of {} numbers, the model gives {}: train it again (bss-intel train)",
                cfg.classifier_path().display(),
                classifier.dimensions(),
                embedder.dimensions()
            );
        }
        if let Some(why) = classifier.precision_differs(embedder.precision().name()) {
            warn!(stage = super::NAME, classifier = %cfg.classifier_path().display(), "{why}");
        }
        let vader = Vader::from_dir(cfg.data_dir.join("vader"))
            .context("[intelligence] VADER's lexicons")?;
        let rules = match &cfg.rules {
            Some(p) => Rules::load(p).context("[intelligence] rules")?,
            None => Rules::builtin(),
        };
        Ok(Models {
            embedder,
            classifier,
            vader,
            rules,
        })
    }

    /// Classes (by the model, for the tickets that wait for it), sentiment
    /// and routes of `chunk`.
    fn decide(
        &self,
        chunk: &[Ticket],
        customers: &HashMap<String, CustomerFacts>,
        anomalies: u32,
    ) -> Result<Vec<Decision>, String> {
        let for_model: Vec<&str> = chunk
            .iter()
            .filter(|t| t.model)
            .filter_map(|t| t.text.as_deref())
            .collect();
        let embeddings = self
            .embedder
            .embed_many(&for_model)
            .map_err(|e| e.to_string())?;
        let mut predictions = embeddings.iter().map(|v| self.classifier.predict(v));
        let decisions = chunk
            .iter()
            .map(|t| {
                let class = match (&t.text, t.model) {
                    (Some(_), true) => predictions.next().map(|p| (p.class, p.confidence)),
                    _ => None,
                };
                let sentiment = t
                    .text
                    .as_deref()
                    .map_or(0.0, |text| self.vader.polarity_scores(text).compound);
                let (segment, plan) = t
                    .customer
                    .as_ref()
                    .and_then(|c| customers.get(c).cloned())
                    .unwrap_or_default();
                let route = self.rules.route(&Facts {
                    class: class.as_ref().map_or("", |(c, _)| c.as_str()),
                    confidence: class.as_ref().map_or(0.0, |(_, p)| *p),
                    sentiment,
                    segment: segment.as_deref(),
                    plan: plan.as_deref(),
                    anomalies,
                });
                Decision {
                    class,
                    sentiment,
                    segment,
                    plan,
                    anomalies,
                    route,
                }
            })
            .collect();
        Ok(decisions)
    }
}

/// Most tickets routed without a class stored in one transaction.
const DIRECT_CHUNK: usize = 256;

/// Classifies the tickets of one of the backlog's queues (`model`: those
/// waiting for the model; else those routed without a class, which so never
/// wait for it) until the task is aborted or a refusal stops it.
pub async fn run(
    backlog: Arc<Backlog>,
    model: bool,
    models: Arc<Models>,
    mut db: Db,
    cfg: IntelligenceConfig,
    metrics: Arc<Metrics>,
) {
    let chunk_len = if model { cfg.batch } else { DIRECT_CHUNK };
    loop {
        let chunk = backlog.front(model, chunk_len).await;
        match classify_chunk(&chunk, &models, &mut db, &cfg, &metrics).await {
            Ok(busy) => {
                backlog.pop(model, chunk.len());
                metrics.intel_backlog.set(backlog.waiting() as i64);
                if model {
                    tokio::time::sleep(cfg.model_pause(busy)).await;
                }
            }
            Err(why) => {
                warn!(stage = super::NAME, error = %why, "the intelligence stage stops");
                backlog.fail(why);
                return;
            }
        }
    }
}

/// Does one chunk, retrying while PostgreSQL is unavailable; Ok: how long
/// the model ran; Err: why no retry helps.
async fn classify_chunk(
    chunk: &[Ticket],
    models: &Arc<Models>,
    db: &mut Db,
    cfg: &IntelligenceConfig,
    metrics: &Metrics,
) -> Result<Duration, String> {
    let mut customers: Vec<String> = chunk.iter().filter_map(|t| t.customer.clone()).collect();
    customers.sort_unstable();
    customers.dedup();
    let mut backoff = Backoff::new(backoff::DELIVERY);
    let (facts, anomalies) = loop {
        match store::facts(db, &customers, cfg.anomaly_window()).await {
            Ok(v) => break v,
            Err(e) => wait_or_fail(e, &mut backoff, metrics).await?,
        }
    };

    let started = Instant::now();
    let decisions = {
        let (models, chunk) = (Arc::clone(models), chunk.to_vec());
        tokio::task::spawn_blocking(move || models.decide(&chunk, &facts, anomalies))
            .await
            .map_err(|e| format!("the model's thread failed: {e}"))??
    };
    let busy = started.elapsed();
    if chunk.iter().any(|t| t.model) {
        metrics.intel_model_seconds.inc_by(busy.as_secs_f64());
    }

    let events: Vec<Classified> = chunk
        .iter()
        .zip(&decisions)
        .map(|(t, d)| Classified {
            stream_id: t.stream_id.clone(),
            tenant: t.tenant.clone(),
            event_type: t.classified_type(),
            event_id: t.classified_id().to_string(),
            data: d.data(t).to_string(),
            subject: t.subject.clone().unwrap_or_else(|| t.stream_id.clone()),
        })
        .collect();
    loop {
        match store::append(db, &events).await {
            Ok(()) => break,
            Err(e) => wait_or_fail(e, &mut backoff, metrics).await?,
        }
    }

    let now_us = crate::event::now_us();
    for (t, d) in chunk.iter().zip(&decisions) {
        metrics.count_classified(
            d.class.as_ref().map(|(c, _)| c.as_str()),
            t.unclassified_because(),
            &d.route.team,
            d.route.priority.as_str(),
        );
        metrics
            .intel_latency
            .observe((now_us - t.commit_time_us).max(0) as f64 / 1e6);
    }
    Ok(busy)
}

/// After a failure: waits before the next try if it is one to retry,
/// else Err with why.
async fn wait_or_fail(e: Failure, backoff: &mut Backoff, metrics: &Metrics) -> Result<(), String> {
    match e {
        Failure::Fatal(e) => Err(e),
        Failure::Retry(e) => {
            metrics
                .sink_retries
                .get_or_create(&crate::metrics::SinkLabel::new(super::NAME))
                .inc();
            let wait = backoff.next_wait();
            warn!(stage = super::NAME, error = %e, ?wait, "PostgreSQL is unavailable; retrying");
            tokio::time::sleep(wait).await;
            Ok(())
        }
    }
}
