//! What the hostile-peer and load tests measure with: a global allocator that counts the bytes
//! alive and their peak, and a raised limit on open files.
//!
//! Include with `#[path = "support/measure.rs"] mod measure;`: the allocator then counts every
//! allocation of that test binary, so tests that compare figures must not run at once (see
//! [`serial`]).

// The allocator forwards every call to the system's and only adds two counters; implementing
// `GlobalAlloc` cannot be done without `unsafe`.
#![allow(unsafe_code, dead_code, unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts the bytes alive on the heap, and the most that were alive since the last
/// [`Watch::start`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed on unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which got it from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's, unchanged.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size > layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// The bytes alive on the heap now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Watches how far the heap grows from the moment it is started.
pub struct Watch {
    base: usize,
}

impl Watch {
    /// Starts watching: the peak is reset to what is alive now.
    pub fn start() -> Self {
        let base = live();
        PEAK.store(base, Relaxed);
        Watch { base }
    }

    /// The most the heap held beyond its size at the start.
    pub fn peak_growth(&self) -> usize {
        PEAK.load(Relaxed).saturating_sub(self.base)
    }

    /// Asserts that the heap's peak stayed less than `bound` bytes above its size at the
    /// start, and prints the figure (shown with `--nocapture`).
    #[track_caller]
    pub fn assert_growth_below(&self, bound: usize) {
        let growth = self.peak_growth();
        eprintln!("heap peak: {growth} bytes above the start (bound {bound})");
        assert!(growth < bound, "the heap grew {growth} bytes");
    }
}

/// Held by a test for as long as its figures must not be disturbed by another test's
/// allocations.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// Raises this process's limit on open files to its hard limit, and returns the limit now in
/// force (`u64::MAX` if there is none).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Where raising is refused, the old limit stands; the caller sizes its work to it.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}
