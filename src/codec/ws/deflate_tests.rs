use super::*;

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"tidegate says hello "[i % 20]).collect()
}

#[test]
fn deflated_messages_inflate_back_with_either_inflater() {
    for bits in 9..=15 {
        for payload in [Vec::new(), b"x".to_vec(), text(100_000)] {
            let deflated = deflate(&payload, bits).unwrap();
            assert!(!deflated.ends_with(&TAIL));
            let mut shared = Inflater::new(15, true);
            assert_eq!(shared.inflate(&deflated, 1 << 20).unwrap(), payload);
            let mut own = Inflater::new(bits, false);
            for _ in 0..2 {
                assert_eq!(own.inflate(&deflated, 1 << 20).unwrap(), payload);
            }
        }
    }
}

#[test]
fn a_fanned_out_payload_is_deflated_once() {
    let payload = Bytes::from(text(4096));
    let first = deflate_shared(&payload, 15).unwrap();
    assert!(!first.reused);
    let again = deflate_shared(&payload.clone(), 15).unwrap();
    assert!(again.reused);
    assert_eq!(again.payload, first.payload);
    // Same bytes elsewhere, or another window, are compressed anew.
    assert!(!deflate_shared(&Bytes::from(text(4096)), 15).unwrap().reused);
    assert!(!deflate_shared(&payload, 10).unwrap().reused);
}

#[test]
fn remembered_messages_stay_within_their_byte_budget() {
    let big = Bytes::from(vec![3u8; RECENT_MAX_BYTES / 3]);
    let first = deflate_shared(&big, 15).unwrap();
    assert!(first.recent_bytes <= RECENT_MAX_BYTES);
    for _ in 0..4 {
        let other = Bytes::from(vec![4u8; RECENT_MAX_BYTES / 3]);
        assert!(deflate_shared(&other, 15).unwrap().recent_bytes <= RECENT_MAX_BYTES);
    }
    // The first one was forgotten to make room, and one over the budget is never remembered.
    assert!(!deflate_shared(&big, 15).unwrap().reused);
    let huge = Bytes::from(vec![5u8; RECENT_MAX_BYTES + 1]);
    deflate_shared(&huge, 15).unwrap();
    assert!(!deflate_shared(&huge, 15).unwrap().reused);
}

#[test]
fn a_context_kept_between_messages_inflates_in_order() {
    // A client with context takeover: the second message refers back into the first.
    let mut client = Compress::new_with_window_bits(Compression::default(), false, 15);
    let mut own = Inflater::new(15, false);
    for _ in 0..3 {
        let mut out = Vec::with_capacity(4096);
        client
            .compress_vec(&text(1000), &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        assert_eq!(own.inflate(&out, 4096).unwrap(), text(1000));
    }
}

#[test]
fn a_zip_bomb_stops_at_the_limit() {
    let bomb = deflate(&vec![0u8; 10 << 20], 15).unwrap();
    assert!(bomb.len() < 20_000);
    let mut inflater = Inflater::new(15, true);
    assert_eq!(inflater.inflate(&bomb, 65_536), Err(InflateError::TooLarge));
    // Exactly at the limit is fine.
    let at_limit = deflate(&vec![0u8; 65_536], 15).unwrap();
    assert_eq!(inflater.inflate(&at_limit, 65_536).unwrap().len(), 65_536);
}

#[test]
fn garbage_is_corrupt() {
    let mut inflater = Inflater::new(15, true);
    assert_eq!(
        inflater.inflate(&[0xff, 0xff, 0xff, 0xff], 1024),
        Err(InflateError::Corrupt)
    );
}
