//! libFuzzer entry for `tidegate_fuzz::targets::kafka_compact_id` (docs/fuzzing.md).
#![no_main]

#[global_allocator]
static ALLOCATOR: tidegate_fuzz::alloc_guard::Tracking = tidegate_fuzz::alloc_guard::Tracking;

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidegate_fuzz::targets::kafka_compact_id::run(data));
