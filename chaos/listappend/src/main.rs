//! An Elle list-append style isolation check of pg_bss stream histories under faults.
//! (Being written; see issue 22.)

fn main() {}
