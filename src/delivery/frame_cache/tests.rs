use super::*;
use crate::message::{MessageId, PayloadKind};

fn msg(n: u64, payload: Bytes) -> Message {
    Message {
        id: MessageId::Sequence(n),
        payload,
        kind: PayloadKind::Unspecified,
        headers: Arc::from(Vec::new()),
        metadata: Arc::from(Vec::new()),
        timestamp_ms: 0,
    }
}

fn frame_of(message: &Message) -> impl FnOnce(&mut BytesMut) + '_ {
    move |dst: &mut BytesMut| {
        dst.extend_from_slice(b"<");
        dst.extend_from_slice(&message.payload);
        dst.extend_from_slice(b">");
    }
}

#[test]
fn the_same_message_is_framed_once_and_shared_by_reference() {
    let metrics = Arc::new(ShardMetrics::default());
    let mut cache = FrameCache::<u8>::default();
    let message = msg(7, Bytes::from_static(b"hello"));
    let first = cache.framed(&message, 0, &metrics, frame_of(&message));
    let mut calls = 0;
    for _ in 0..10 {
        // Each subscriber holds its own clone of the message, as a fan-out hands it.
        let copy = message.clone();
        let again = cache.framed(&copy, 0, &metrics, |_| calls += 1);
        assert_eq!(again.as_ptr(), first.as_ptr(), "shared, not copied");
    }
    assert_eq!(calls, 0, "framed once");
    assert_eq!(&first[..], b"<hello>");
    assert_eq!(ShardMetrics::get(&metrics.delivery_frames_shared_total), 10);
}

#[test]
fn another_message_with_equal_bytes_or_id_or_another_shape_is_framed_anew() {
    let metrics = Arc::new(ShardMetrics::default());
    let mut cache = FrameCache::<u8>::default();
    let message = msg(1, Bytes::from(b"same".to_vec()));
    cache.framed(&message, 0, &metrics, frame_of(&message));
    let equal_bytes = msg(1, Bytes::from(b"same".to_vec()));
    let other_id = msg(2, message.payload.clone());
    let mut headers = message.clone();
    headers.headers = Arc::from(vec![("a".to_owned(), "b".to_owned())]);
    let mut calls = 0;
    cache.framed(&equal_bytes, 0, &metrics, |_| calls += 1);
    cache.framed(&other_id, 0, &metrics, |_| calls += 1);
    cache.framed(&headers, 0, &metrics, |_| calls += 1);
    cache.framed(&message, 1, &metrics, |_| calls += 1);
    assert_eq!(calls, 4);
}

#[test]
fn held_bytes_are_bounded_and_large_payloads_are_not_held() {
    let metrics = Arc::new(ShardMetrics::default());
    let mut cache = FrameCache::<()>::default();
    let payload = Bytes::from(vec![b'x'; MAX_PAYLOAD_BYTES]);
    for n in 0..(SLOTS as u64 * 3) {
        let message = msg(n, payload.slice(..MAX_PAYLOAD_BYTES - (n as usize % 7)));
        cache.framed(&message, (), &metrics, frame_of(&message));
    }
    assert!(cache.held_bytes() <= SLOTS * (2 * MAX_PAYLOAD_BYTES + 2));
    let gauge = ShardMetrics::get(&metrics.delivery_frame_cache_bytes);
    assert_eq!(gauge, cache.held_bytes() as u64);
    let before = cache.held_bytes();
    let large = msg(1000, Bytes::from(vec![b'y'; MAX_PAYLOAD_BYTES + 1]));
    let framed = cache.framed(&large, (), &metrics, frame_of(&large));
    assert_eq!(framed.len(), MAX_PAYLOAD_BYTES + 3);
    assert_eq!(
        cache.held_bytes(),
        before,
        "a large payload is framed, not held"
    );
}

#[test]
fn the_gauge_moves_with_the_cache_to_another_gateways_metrics() {
    let first = Arc::new(ShardMetrics::default());
    let second = Arc::new(ShardMetrics::default());
    let mut cache = FrameCache::<()>::default();
    let message = msg(3, Bytes::from_static(b"abc"));
    cache.framed(&message, (), &first, frame_of(&message));
    let held = cache.held_bytes() as u64;
    assert_eq!(ShardMetrics::get(&first.delivery_frame_cache_bytes), held);
    let other = msg(4, Bytes::from_static(b"de"));
    cache.framed(&other, (), &second, frame_of(&other));
    assert_eq!(ShardMetrics::get(&first.delivery_frame_cache_bytes), 0);
    assert_eq!(
        ShardMetrics::get(&second.delivery_frame_cache_bytes),
        cache.held_bytes() as u64
    );
}
