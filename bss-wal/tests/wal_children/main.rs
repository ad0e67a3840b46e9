//! The log engine's tests that run a child process: kill -9 mid-append,
//! and a write error injected in the child. Apart from the other tests:
//! a child forked while another thread's test holds a directory's lock
//! (flock) shares that lock until it execs, which the reopening tests would
//! see as the directory still open.

mod crash;
mod io_failure;
