//! Owns the tickets waiting for their classification to be stored: filled
//! in commit order by the stage as it reads the spool, in two queues (those
//! waiting for the model, and those to be routed without a class), emptied
//! from the front by the worker once a chunk's classified events are
//! committed, and copied whole into the stage's state file at each
//! checkpoint. A worker serves each queue, so those routed without a
//! class never wait for the model. Bounded: at most `max_model` wait for the
//! model (the stage waits for room, or marks a ticket to be routed without
//! a class). Must never drop a ticket before its classified event is
//! committed.

use std::collections::VecDeque;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ticket::Ticket;

#[derive(Default)]
struct Inner {
    /// Tickets waiting for the model, in commit order.
    model: VecDeque<Ticket>,
    /// Tickets to be routed without a class, in commit order.
    direct: VecDeque<Ticket>,
    /// Why the worker stopped, if it did (a refusal no retry fixes).
    failed: Option<String>,
}

impl Inner {
    fn queue(&mut self, model: bool) -> &mut VecDeque<Ticket> {
        if model {
            &mut self.model
        } else {
            &mut self.direct
        }
    }
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
        self.inner.lock().model.len() < self.max_model
    }

    /// Completes once tickets are dropped after this call (room may have
    /// come); get it before looking for room, so a drop in between is seen.
    pub fn dropped(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut dropped = Box::pin(self.room.notified());
        dropped.as_mut().enable();
        dropped
    }

    /// Adds a ticket at the end of its queue (the stage, in commit order).
    pub fn push(&self, ticket: Ticket) {
        let mut inner = self.inner.lock();
        inner.queue(ticket.model).push_back(ticket);
        drop(inner);
        self.more.notify_waiters();
    }

    /// Replaces everything by the tickets a restart found in the state file.
    pub fn restore(&self, tickets: Vec<Ticket>) {
        let mut inner = self.inner.lock();
        inner.model.clear();
        inner.direct.clear();
        for t in tickets {
            inner.queue(t.model).push_back(t);
        }
        drop(inner);
        self.more.notify_waiters();
    }

    /// Copies of the first `n` tickets of one queue (`model`: those
    /// waiting for the model): waits until there is one.
    pub async fn front(&self, model: bool, n: usize) -> Vec<Ticket> {
        loop {
            let mut more = std::pin::pin!(self.more.notified());
            more.as_mut().enable();
            {
                let mut inner = self.inner.lock();
                let queue = inner.queue(model);
                if !queue.is_empty() {
                    return queue.iter().take(n).cloned().collect();
                }
            }
            more.await;
        }
    }

    /// Drops the first `n` of a queue, whose classified events are committed.
    pub fn pop(&self, model: bool, n: usize) {
        let mut inner = self.inner.lock();
        let queue = inner.queue(model);
        let n = n.min(queue.len());
        queue.drain(..n);
        drop(inner);
        if model {
            self.room.notify_waiters();
        }
    }

    /// Every waiting ticket, for the state file.
    pub fn snapshot(&self) -> Vec<Ticket> {
        let inner = self.inner.lock();
        inner.model.iter().chain(&inner.direct).cloned().collect()
    }

    /// How many tickets wait.
    pub fn waiting(&self) -> usize {
        let inner = self.inner.lock();
        inner.model.len() + inner.direct.len()
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
    fn the_model_gets_at_most_max_tickets_and_each_queue_is_served_apart() {
        let b = Backlog::new(2);
        assert!(b.model_has_room());
        for t in [
            ticket(1, true),
            ticket(2, false),
            ticket(3, true),
            ticket(4, false),
        ] {
            b.push(t);
        }
        assert!(!b.model_has_room(), "two wait for the model");
        assert_eq!(b.waiting(), 4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(b.front(false, 1)), [ticket(2, false)]);
        assert_eq!(b.waiting(), 4, "front copies, pop removes");
        b.pop(false, 1);
        assert_eq!(
            rt.block_on(b.front(true, 8)),
            [ticket(1, true), ticket(3, true)]
        );
        b.pop(true, 1);
        assert!(b.model_has_room());
        assert_eq!(rt.block_on(b.front(false, 8)), [ticket(4, false)]);
        b.pop(false, 1);
        assert_eq!(b.snapshot(), [ticket(3, true)]);
        b.restore(vec![ticket(5, true), ticket(6, false), ticket(7, true)]);
        assert!(!b.model_has_room(), "restored tickets count");
        assert_eq!(b.waiting(), 3);
    }
}
