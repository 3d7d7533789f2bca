//! A counting global allocator: live and peak heap bytes, so that a target can require that
//! one input never makes the code under test hold more than a stated bound.
//!
//! This is the only `unsafe` code of the repository: implementing `GlobalAlloc` requires it.
//! It forwards every call to the system allocator unchanged and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The allocator: [`System`] plus counters.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments; the counters do not
// affect the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The most heap one input may make the code under test hold at once: `base` bytes plus
/// `per_byte` bytes per input byte.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Bytes allowed whatever the input.
    pub base: usize,
    /// Bytes allowed per input byte.
    pub per_byte: usize,
}

impl Bound {
    /// Stateless decoders: 256 KiB plus 64 bytes per input byte (a JSON value tree costs a
    /// few dozen bytes per input byte at worst: one `Value` per two-byte array element).
    pub const DECODER: Bound = Bound {
        base: 256 << 10,
        per_byte: 64,
    };
    /// The scenario loader: 2 MiB plus 64 bytes per input byte (each parse builds the JSON
    /// Schema validator of the scenario schema, about 700 KB whatever the input).
    pub const LOADER: Bound = Bound {
        base: 2 << 20,
        per_byte: 64,
    };
    /// Stateful targets (a card, an issuer session, a middleware): 16 MiB for the parties
    /// themselves plus 64 bytes per input byte.
    pub const STATEFUL: Bound = Bound {
        base: 16 << 20,
        per_byte: 64,
    };

    /// The bound for an input of `len` bytes.
    pub fn for_len(&self, len: usize) -> usize {
        self.base.saturating_add(self.per_byte.saturating_mul(len))
    }
}

/// Heap bytes live now.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Runs `f` on an input of `len` bytes and fails if the peak live heap during `f`, above what
/// was live before, exceeds `bound`.
pub fn bounded<T>(len: usize, bound: Bound, f: impl FnOnce() -> T) -> T {
    let start = live();
    PEAK.store(start, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(start);
    let limit = bound.for_len(len);
    if peak > limit {
        panic!(
            "oracle violated: allocation bound: peak {peak} heap bytes for a {len}-byte input \
             (bound {} + {} per byte = {limit})",
            bound.base, bound.per_byte
        );
    }
    out
}
