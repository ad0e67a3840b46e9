//! A value loaded once per backend and dropped on every relcache
//! invalidation (the SQL functions that change what it was loaded from send
//! one; any other only costs a reload). A load that an invalidation arrived
//! during is used once but not kept. This module never reads a table itself:
//! the owner of each cache passes its load.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::thread::LocalKey;

use pgrx::pg_sys;

pub struct SessionCache<T> {
    value: RefCell<Option<Rc<T>>>,
    /// Bumped by every invalidation.
    generation: Cell<u64>,
}

impl<T: 'static> SessionCache<T> {
    pub const fn new() -> Self {
        SessionCache {
            value: RefCell::new(None),
            generation: Cell::new(0),
        }
    }

    /// Registers the invalidation callback of `cache`, once, from _PG_init.
    pub fn register(cache: &'static LocalKey<SessionCache<T>>) {
        let key: *const LocalKey<SessionCache<T>> = cache;
        // SAFETY: a static callback registered once per backend; its
        // argument is a `'static` thread-local key.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(invalidate::<T>),
                pg_sys::Datum::from(key as usize),
            )
        }
    }

    /// The cached value, else what `load` returns (kept unless an
    /// invalidation arrived meanwhile).
    pub fn get_or_load<E>(&self, load: impl FnOnce() -> Result<T, E>) -> Result<Rc<T>, E> {
        if let Some(v) = self.value.borrow().as_ref() {
            return Ok(Rc::clone(v));
        }
        let generation = self.generation.get();
        let loaded = Rc::new(load()?);
        if self.generation.get() == generation {
            *self.value.borrow_mut() = Some(Rc::clone(&loaded));
        }
        Ok(loaded)
    }

    /// Counts invalidations: a value read at one generation may be kept
    /// only while the generation is still the same.
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    fn invalidate(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        if let Ok(mut v) = self.value.try_borrow_mut() {
            *v = None;
        }
    }
}

unsafe extern "C-unwind" fn invalidate<T: 'static>(arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    // SAFETY: `arg` is the key `register` passed.
    let key = &*(arg.value() as *const LocalKey<SessionCache<T>>);
    // Cannot fail: safe at any point PostgreSQL calls it.
    let _ = key.try_with(SessionCache::invalidate);
}
