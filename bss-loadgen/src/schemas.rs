//! The JSON Schemas (draft 2020-12) of the `data` of every event type the
//! simulator produces, shipped inside the binary. This module only hands out
//! the schema texts; validating against them is the extension's job (and the
//! tests'), registering them is the writer's.

/// One shipped schema: the event type it constrains and its JSON text.
#[derive(Debug, Clone, Copy)]
pub struct EventSchema {
    pub event_type: &'static str,
    pub json: &'static str,
}

/// Every event type the simulator can emit, each with its schema.
pub const SCHEMAS: &[EventSchema] = &[
    EventSchema {
        event_type: "customer.created",
        json: include_str!("../schemas/customer.created.json"),
    },
    EventSchema {
        event_type: "subscription.activated",
        json: include_str!("../schemas/subscription.activated.json"),
    },
    EventSchema {
        event_type: "subscription.cancelled",
        json: include_str!("../schemas/subscription.cancelled.json"),
    },
    EventSchema {
        event_type: "invoice.issued",
        json: include_str!("../schemas/invoice.issued.json"),
    },
    EventSchema {
        event_type: "payment.received",
        json: include_str!("../schemas/payment.received.json"),
    },
    EventSchema {
        event_type: "payment.failed",
        json: include_str!("../schemas/payment.failed.json"),
    },
    EventSchema {
        event_type: "usage.recorded",
        json: include_str!("../schemas/usage.recorded.json"),
    },
    EventSchema {
        event_type: "ticket.opened",
        json: include_str!("../schemas/ticket.opened.json"),
    },
];

/// The schema of `event_type`, if the simulator ships one.
pub fn schema_for(event_type: &str) -> Option<&'static EventSchema> {
    SCHEMAS.iter().find(|s| s.event_type == event_type)
}

/// Parses a shipped schema. The texts are compiled in, so a parse failure is
/// a bug in this crate (caught by the tests), reported rather than panicking.
pub fn parse(schema: &EventSchema) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(schema.json)
}
