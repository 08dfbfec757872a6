//! Measures the largest single allocation a decoder makes, so a target can assert that a huge
//! declared length (a chunk size, a frame or packet length) is refused rather than allocated.
//!
//! [`Tracking`] wraps the system allocator and must be the binary's `#[global_allocator]` (the
//! fuzz binaries and `tests/bounded_run.rs` install it); [`largest_allocation`] fails loudly
//! when it is not, so a target can never pass by measuring nothing. The peak is per thread, so
//! tests running in parallel do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Largest allocation (or reallocation) size on this thread since the last reset.
    static LARGEST_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, noting each allocation's size.
pub struct Tracking;

fn note(size: usize) {
    // `try_with`: allocations during thread teardown are not measured, never a panic.
    let _ = LARGEST_BYTES.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the only
// addition is `note`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the largest single allocation it made, in bytes.
///
/// # Panics
/// When [`Tracking`] is not the global allocator.
pub fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let outer = LARGEST_BYTES.with(|largest| largest.replace(0));
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(1));
    drop(probe);
    assert!(
        LARGEST_BYTES.with(Cell::get) >= 1,
        "install tidegate_fuzz::alloc_guard::Tracking as the #[global_allocator]"
    );
    LARGEST_BYTES.with(|largest| largest.set(0));
    let result = f();
    let inner = LARGEST_BYTES.with(|largest| largest.replace(outer.max(largest.get())));
    (result, inner)
}

/// Runs `f`, panicking when one of its allocations is over `bound_bytes`.
pub fn bounded<R>(what: &str, bound_bytes: usize, f: impl FnOnce() -> R) -> R {
    let (result, largest) = largest_allocation(f);
    assert!(
        largest <= bound_bytes,
        "{what} allocated {largest} bytes at once, over its bound of {bound_bytes}"
    );
    result
}
