//! Owns the tickets waiting for their classification to be stored: filled
//! in commit order by the stage as it reads the spool, emptied from the
//! front by the worker once a chunk's classified events are committed, and
//! copied whole into the stage's state file at each checkpoint. Bounded:
//! at most `max_model` wait for the model (the stage waits for room, or
//! marks a ticket to be routed without a class). Must never drop a ticket
//! before its classified event is committed.

use std::collections::VecDeque;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ticket::Ticket;

#[derive(Default)]
struct Inner {
    tickets: VecDeque<Ticket>,
    /// Of `tickets`, how many wait for the model.
    for_model: usize,
    /// Why the worker stopped, if it did (a refusal no retry fixes).
    failed: Option<String>,
}

/// The waiting tickets, shared by the stage and its worker.
pub struct Backlog {
    inner: Mutex<Inner>,
    max_model: usize,
    more: Notify,
    room: Notify,
}

impl Backlog {
    pub fn new(max_model: usize) -> Backlog {
        Backlog {
            inner: Mutex::default(),
            max_model,
            more: Notify::new(),
            room: Notify::new(),
        }
    }

    /// Whether a ticket coming now may wait for the model.
    pub fn model_has_room(&self) -> bool {
        self.inner.lock().for_model < self.max_model
    }

    /// Completes once tickets are dropped after this call (room may have
    /// come); get it before looking for room, so a drop in between is seen.
    pub fn dropped(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut dropped = Box::pin(self.room.notified());
        dropped.as_mut().enable();
        dropped
    }

    /// Adds `tickets` at the end (the stage, in commit order).
    pub fn push(&self, tickets: impl IntoIterator<Item = Ticket>) {
        let mut inner = self.inner.lock();
        let before = inner.tickets.len();
        for t in tickets {
            inner.for_model += usize::from(t.model);
            inner.tickets.push_back(t);
        }
        if inner.tickets.len() > before {
            drop(inner);
            self.more.notify_one();
        }
    }

    /// Replaces everything by the tickets a restart found in the state file.
    pub fn restore(&self, tickets: Vec<Ticket>) {
        let mut inner = self.inner.lock();
        inner.for_model = tickets.iter().filter(|t| t.model).count();
        inner.tickets = tickets.into();
        drop(inner);
        self.more.notify_one();
    }

    /// Copies of the first `n` (at least one): waits until there is one.
    pub async fn front(&self, n: usize) -> Vec<Ticket> {
        loop {
            let notified = self.more.notified();
            {
                let inner = self.inner.lock();
                if !inner.tickets.is_empty() {
                    return inner.tickets.iter().take(n).cloned().collect();
                }
            }
            notified.await;
        }
    }

    /// Drops the first `n`, whose classified events are committed.
    pub fn pop(&self, n: usize) {
        let mut inner = self.inner.lock();
        let n = n.min(inner.tickets.len());
        let modelled = inner.tickets.drain(..n).filter(|t| t.model).count();
        inner.for_model -= modelled;
        drop(inner);
        self.room.notify_waiters();
    }

    /// Every waiting ticket, for the state file.
    pub fn snapshot(&self) -> Vec<Ticket> {
        self.inner.lock().tickets.iter().cloned().collect()
    }

    /// How many tickets wait.
    pub fn waiting(&self) -> usize {
        self.inner.lock().tickets.len()
    }

    /// The worker stopped for good: `why`.
    pub fn fail(&self, why: String) {
        self.inner.lock().failed = Some(why);
        self.room.notify_waiters();
    }

    pub fn failure(&self) -> Option<String> {
        self.inner.lock().failed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(n: u32, model: bool) -> Ticket {
        Ticket {
            event_id: format!("e{n}"),
            event_type: "ticket.opened".into(),
            stream_id: format!("ticket-{n}"),
            subject: None,
            tenant: "default".into(),
            text: Some("x".into()),
            customer: None,
            commit_time_us: 0,
            model,
        }
    }

    #[test]
    fn the_model_gets_at_most_max_tickets_and_room_comes_back_as_they_are_stored() {
        let b = Backlog::new(2);
        assert!(b.model_has_room());
        b.push([ticket(1, true), ticket(2, false), ticket(3, true)]);
        assert!(!b.model_has_room(), "two wait for the model");
        assert_eq!(b.waiting(), 3);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let front = rt.block_on(b.front(2));
        assert_eq!(front, [ticket(1, true), ticket(2, false)]);
        assert_eq!(b.waiting(), 3, "front copies, pop removes");
        b.pop(2);
        assert!(b.model_has_room());
        assert_eq!(b.snapshot(), [ticket(3, true)]);
        b.restore(vec![ticket(4, true), ticket(5, true)]);
        assert!(!b.model_has_room(), "restored tickets count");
    }
}
