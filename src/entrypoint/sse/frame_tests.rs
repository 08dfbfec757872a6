//! The event a shard builds once and shares (`encode_whole`) is byte for byte the event a
//! subscriber appends piecewise (`encode_piecewise`), for every payload and option shape.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::event::{encode_message, encode_piecewise, encode_whole};
use crate::config::SseOptions;
use crate::message::{Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;
use crate::server::write_batch::WriteBatch;

fn message(payload: &[u8]) -> Message {
    Message {
        id: MessageId::Sequence(42),
        payload: Bytes::copy_from_slice(payload),
        kind: PayloadKind::Unspecified,
        headers: Arc::from(vec![("h".to_owned(), "v\nw".to_owned())]),
        metadata: Arc::from(vec![("topic".to_owned(), "t".to_owned())]),
        timestamp_ms: 0,
    }
}

fn written(batch: &mut WriteBatch) -> Vec<u8> {
    batch.take_parts().concat()
}

#[test]
fn the_shared_event_equals_the_piecewise_one() {
    let large = vec![b'a'; 2000];
    let payloads: [&[u8]; 9] = [
        b"",
        b"plain",
        b"two\nlines",
        b"trailing\n",
        b"\n\nempty lines\n",
        b"carriage\rreturn",
        b"\xff\xfe not utf-8",
        "caf\u{e9} \u{1f30a}".as_bytes(),
        &large,
    ];
    for payload in payloads {
        for (chunked, headers, metadata) in [
            (true, false, false),
            (false, false, false),
            (true, true, true),
            (false, true, false),
        ] {
            let options = SseOptions {
                headers_as_comment: headers,
                metadata_as_comment: metadata,
                ..SseOptions::default()
            };
            let message = message(payload);
            let mut piecewise = WriteBatch::new();
            encode_piecewise(
                &mut piecewise,
                &mut BytesMut::new(),
                &message,
                &options,
                chunked,
            );
            let mut whole = BytesMut::new();
            encode_whole(&mut whole, &message, &options, chunked);
            assert_eq!(
                written(&mut piecewise),
                whole.to_vec(),
                "payload {payload:?}, chunked {chunked}, comments {headers}/{metadata}"
            );
        }
    }
}

#[test]
fn subscribers_of_one_message_share_its_event() {
    let metrics = Arc::new(ShardMetrics::default());
    let options = SseOptions::default();
    let message = message(b"shared");
    let mut first = WriteBatch::new();
    encode_message(
        &mut first,
        &mut BytesMut::new(),
        &message,
        &options,
        true,
        &metrics,
        false,
    );
    let first = written(&mut first);
    let before = ShardMetrics::get(&metrics.delivery_frames_shared_total);
    for _ in 0..3 {
        let mut batch = WriteBatch::new();
        let copy = message.clone();
        encode_message(
            &mut batch,
            &mut BytesMut::new(),
            &copy,
            &options,
            true,
            &metrics,
            // The direct path's way (referenced, not copied) gives the same bytes.
            true,
        );
        assert_eq!(written(&mut batch), first);
    }
    assert_eq!(
        ShardMetrics::get(&metrics.delivery_frames_shared_total),
        before + 3
    );
}
