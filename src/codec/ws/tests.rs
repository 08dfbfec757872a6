use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

const LIMITS: WsLimits = WsLimits {
    max_frame_bytes: 1 << 20,
    max_message_bytes: 2 << 20,
};
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn client_frame(opcode: Opcode, fin: bool, payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_client_frame(&mut buf, opcode, fin, payload, MASK);
    buf
}

fn decode_all(decoder: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<WsEvent>, WsError> {
    let mut events = Vec::new();
    while let Some(event) = decoder.decode(buf)? {
        events.push(event);
    }
    Ok(events)
}

fn decode_err(bytes: &[u8]) -> WsError {
    let mut buf = BytesMut::from(bytes);
    match decode_all(&mut FrameDecoder::new(LIMITS), &mut buf) {
        Err(e) => e,
        Ok(events) => panic!("expected an error, got {events:?}"),
    }
}

#[test]
fn accept_key_matches_rfc_6455_example() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn server_frames_have_exact_bytes() {
    let mut dst = BytesMut::new();
    encode_text(&mut dst, b"hi");
    assert_eq!(&dst[..], b"\x81\x02hi");
    dst.clear();
    encode_frame_header(&mut dst, Opcode::Binary, 126);
    assert_eq!(&dst[..], &[0x82, 126, 0, 126]);
    dst.clear();
    encode_frame_header(&mut dst, Opcode::Binary, 65_536);
    assert_eq!(&dst[..], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    dst.clear();
    encode_close(&mut dst, 1000, "bye");
    assert_eq!(&dst[..], b"\x88\x05\x03\xe8bye");
}

#[test]
fn masked_client_frame_matches_rfc_example() {
    // RFC 6455 §5.7: a masked "Hello".
    let buf = client_frame(Opcode::Text, true, b"Hello");
    let mut expected = vec![0x81, 0x85];
    expected.extend_from_slice(&MASK);
    expected.extend(b"Hello".iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    assert_eq!(&buf[..], &expected[..]);
}

#[test]
fn round_trips_every_length_encoding() {
    for len in [0, 1, 7, 8, 9, 125, 126, 127, 65_535, 65_536, 100_003] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut buf = client_frame(Opcode::Binary, true, &payload);
        let header_bytes = buf.len() - len;
        let expected_header = match len {
            0..=125 => 6,
            126..=65_535 => 8,
            _ => 14,
        };
        assert_eq!(header_bytes, expected_header, "len {len}");
        let mut decoder = FrameDecoder::new(LIMITS);
        let event = decoder.decode(&mut buf).unwrap();
        assert_eq!(event, Some(WsEvent::Binary(payload.into())), "len {len}");
        assert!(buf.is_empty());
    }
}

#[test]
fn unmasks_at_every_alignment() {
    let data: Vec<u8> = (0..40).collect();
    for start in 0..8 {
        for end in start..data.len() {
            let mut masked = data[start..end].to_vec();
            apply_mask(&mut masked, MASK);
            let naive: Vec<u8> = data[start..end]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ MASK[i % 4])
                .collect();
            assert_eq!(masked, naive);
        }
    }
}

#[test]
fn byte_by_byte_feeding_decodes_each_event_once() {
    let mut input = client_frame(Opcode::Text, true, "héllo wörld".as_bytes());
    input.extend_from_slice(&client_frame(Opcode::Ping, true, b"p"));
    let mut decoder = FrameDecoder::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for byte in input.iter() {
        buf.extend_from_slice(&[*byte]);
        events.extend(decode_all(&mut decoder, &mut buf).unwrap());
    }
    assert_eq!(
        events,
        vec![
            WsEvent::Text("héllo wörld".into()),
            WsEvent::Ping(Bytes::from_static(b"p"))
        ]
    );
}

#[test]
fn fragmented_text_with_interleaved_ping() {
    let text = "fragments ✓ joined";
    let bytes = text.as_bytes();
    // Cut inside the 3-byte '✓' so a fragment ends mid-character.
    let cut = text.find('✓').unwrap() + 1;
    let mut buf = client_frame(Opcode::Text, false, &bytes[..cut]);
    buf.extend_from_slice(&client_frame(Opcode::Ping, true, b"mid"));
    buf.extend_from_slice(&client_frame(
        Opcode::Continuation,
        false,
        &bytes[cut..cut + 3],
    ));
    buf.extend_from_slice(&client_frame(Opcode::Pong, true, b""));
    buf.extend_from_slice(&client_frame(Opcode::Continuation, true, &bytes[cut + 3..]));
    let events = decode_all(&mut FrameDecoder::new(LIMITS), &mut buf).unwrap();
    assert_eq!(
        events,
        vec![
            WsEvent::Ping(Bytes::from_static(b"mid")),
            WsEvent::Pong(Bytes::new()),
            WsEvent::Text(text.into()),
        ]
    );
}

#[test]
fn close_frames() {
    let mut buf = client_frame(Opcode::Close, true, b"");
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend_from_slice("done ✓".as_bytes());
    buf.extend_from_slice(&client_frame(Opcode::Close, true, &payload));
    let events = decode_all(&mut FrameDecoder::new(LIMITS), &mut buf).unwrap();
    assert_eq!(
        events,
        vec![
            WsEvent::Close(None),
            WsEvent::Close(Some((4001, "done ✓".to_owned())))
        ]
    );
}

#[test]
fn protocol_errors_carry_their_close_code() {
    let mut fragment_then_text = client_frame(Opcode::Binary, false, b"a");
    fragment_then_text.extend_from_slice(&client_frame(Opcode::Text, true, b"b"));
    let masked_header = |first: u8, len: u8| [first, 0x80 | len, 1, 2, 3, 4];
    let cases: Vec<(Vec<u8>, WsError, u16)> = vec![
        (b"\x81\x00".to_vec(), WsError::UnmaskedClientFrame, 1002),
        (masked_header(0xC1, 0).to_vec(), WsError::ReservedBits, 1002),
        (masked_header(0x91, 0).to_vec(), WsError::ReservedBits, 1002),
        (
            masked_header(0x83, 0).to_vec(),
            WsError::ReservedOpcode(3),
            1002,
        ),
        (
            masked_header(0x8B, 0).to_vec(),
            WsError::ReservedOpcode(0xB),
            1002,
        ),
        (
            client_frame(Opcode::Ping, false, b"").to_vec(),
            WsError::FragmentedControl,
            1002,
        ),
        (
            client_frame(Opcode::Ping, true, &[0; 126]).to_vec(),
            WsError::ControlTooLong(126),
            1002,
        ),
        (
            client_frame(Opcode::Continuation, true, b"x").to_vec(),
            WsError::UnexpectedContinuation,
            1002,
        ),
        (
            fragment_then_text.to_vec(),
            WsError::InterleavedDataFrame,
            1002,
        ),
        (
            client_frame(Opcode::Close, true, &[3]).to_vec(),
            WsError::InvalidClosePayload,
            1002,
        ),
        (
            client_frame(Opcode::Text, true, &[0xff]).to_vec(),
            WsError::InvalidUtf8,
            1007,
        ),
        (
            client_frame(Opcode::Close, true, &[0x03, 0xe8, 0xc3]).to_vec(),
            WsError::InvalidCloseReason,
            1007,
        ),
    ];
    for (bytes, expected, code) in cases {
        let err = decode_err(&bytes);
        assert_eq!(err, expected);
        assert_eq!(err.close_code(), code, "{err}");
    }
}

#[test]
fn close_codes_that_must_not_be_sent_are_rejected() {
    for code in [
        0u16,
        999,
        1004,
        1005,
        1006,
        1015,
        1016,
        2999,
        5000,
        u16::MAX,
    ] {
        let err = decode_err(&client_frame(Opcode::Close, true, &code.to_be_bytes()));
        assert_eq!(err, WsError::InvalidCloseCode(code));
        assert_eq!(err.close_code(), 1002);
    }
    for code in [1000u16, 1001, 1003, 1007, 1011, 3000, 4999] {
        let mut buf = client_frame(Opcode::Close, true, &code.to_be_bytes());
        let event = FrameDecoder::new(LIMITS).decode(&mut buf).unwrap();
        assert_eq!(event, Some(WsEvent::Close(Some((code, String::new())))));
    }
}

#[test]
fn invalid_utf8_fails_at_the_fragment_that_contains_it() {
    let mut buf = client_frame(Opcode::Text, false, &[b'a', 0xc0, 0x80]);
    assert_eq!(
        FrameDecoder::new(LIMITS).decode(&mut buf),
        Err(WsError::InvalidUtf8)
    );
    // A character cut by the final fragment is invalid too.
    let mut buf = client_frame(Opcode::Text, false, b"a");
    buf.extend_from_slice(&client_frame(Opcode::Continuation, true, &[0xe2, 0x9c]));
    assert_eq!(
        FrameDecoder::new(LIMITS).decode(&mut buf),
        Err(WsError::InvalidUtf8)
    );
}

#[test]
fn oversized_frame_is_refused_from_its_header_alone() {
    let limits = WsLimits {
        max_frame_bytes: 1000,
        max_message_bytes: 1500,
    };
    let full = client_frame(Opcode::Binary, true, &[0; 1001]);
    // Only the 8-byte header has arrived.
    let mut buf = BytesMut::from(&full[..8]);
    let err = FrameDecoder::new(limits).decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        WsError::FrameTooLarge {
            len_bytes: 1001,
            limit_bytes: 1000
        }
    );
    assert_eq!(err.close_code(), 1009);
    // A 64-bit length far beyond any limit.
    let mut buf = BytesMut::from(&[0x82, 0xFF, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
    buf.extend_from_slice(&MASK);
    assert_eq!(
        FrameDecoder::new(limits)
            .decode(&mut buf)
            .unwrap_err()
            .close_code(),
        1009
    );
}

#[test]
fn oversized_message_is_refused_across_fragments() {
    let limits = WsLimits {
        max_frame_bytes: 1000,
        max_message_bytes: 1500,
    };
    let mut buf = client_frame(Opcode::Binary, false, &[0; 1000]);
    buf.extend_from_slice(&client_frame(Opcode::Continuation, true, &[0; 501])[..8]);
    let err = decode_all(&mut FrameDecoder::new(limits), &mut buf).unwrap_err();
    assert_eq!(err, WsError::MessageTooLarge { limit_bytes: 1500 });
    assert_eq!(err.close_code(), 1009);
    // Exactly at the limit is fine.
    let mut buf = client_frame(Opcode::Binary, false, &[0; 1000]);
    buf.extend_from_slice(&client_frame(Opcode::Continuation, true, &[1; 500]));
    let events = decode_all(&mut FrameDecoder::new(limits), &mut buf).unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn error_texts_fit_a_close_reason() {
    let errors = [
        WsError::UnmaskedClientFrame,
        WsError::MaskedServerFrame,
        WsError::ReservedBits,
        WsError::ReservedOpcode(0xF),
        WsError::FragmentedControl,
        WsError::ControlTooLong(u64::MAX),
        WsError::UnexpectedContinuation,
        WsError::InterleavedDataFrame,
        WsError::InvalidClosePayload,
        WsError::InvalidCloseCode(u16::MAX),
        WsError::InvalidUtf8,
        WsError::InvalidCloseReason,
        WsError::FrameTooLarge {
            len_bytes: u64::MAX,
            limit_bytes: usize::MAX,
        },
        WsError::MessageTooLarge {
            limit_bytes: usize::MAX,
        },
    ];
    for err in errors {
        assert!(err.to_string().len() <= 123, "{err}");
    }
}

#[test]
fn close_reason_is_truncated_on_a_char_boundary() {
    let mut dst = BytesMut::new();
    encode_close(&mut dst, 1011, &"é".repeat(100));
    // 123 bytes do not fit 2-byte chars evenly: 61 chars = 122 bytes, + 2 for the code.
    assert_eq!(&dst[..2], &[0x88, 124]);
    let mut decoder = ClientFrameDecoder::new(LIMITS);
    let event = decoder.decode(&mut dst).unwrap();
    assert_eq!(event, Some(WsEvent::Close(Some((1011, "é".repeat(61))))));
}

#[test]
fn client_decoder_reads_server_frames_and_rejects_masked_ones() {
    let mut dst = BytesMut::new();
    encode_text(&mut dst, "ünïcode".as_bytes());
    encode_binary(&mut dst, &[0; 70_000]);
    encode_ping(&mut dst, b"1");
    encode_pong(&mut dst, b"2");
    let mut decoder = ClientFrameDecoder::new(LIMITS);
    let mut events = Vec::new();
    while let Some(event) = decoder.decode(&mut dst).unwrap() {
        events.push(event);
    }
    assert_eq!(
        events,
        vec![
            WsEvent::Text("ünïcode".into()),
            WsEvent::Binary(vec![0; 70_000].into()),
            WsEvent::Ping(Bytes::from_static(b"1")),
            WsEvent::Pong(Bytes::from_static(b"2")),
        ]
    );
    let mut masked = client_frame(Opcode::Text, true, b"x");
    assert_eq!(decoder.decode(&mut masked), Err(WsError::MaskedServerFrame));
}

/// A message as the test sends it: its opcode, payload and how many fragments.
fn arb_message() -> impl Strategy<Value = (bool, Vec<u8>, usize, [u8; 4])> {
    let text = ".{0,300}".prop_map(String::into_bytes);
    let binary = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 65_530..65_540),
    ];
    (
        prop_oneof![
            text.prop_map(|t| (true, t)),
            binary.prop_map(|b| (false, b))
        ],
        1..4usize,
    )
        .prop_flat_map(|((is_text, payload), fragments)| {
            (
                Just(is_text),
                Just(payload),
                Just(fragments),
                any::<[u8; 4]>(),
            )
        })
}

proptest! {
    #[test]
    fn messages_round_trip_however_the_input_is_split(
        messages in proptest::collection::vec(arb_message(), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut input = BytesMut::new();
        let mut expected = Vec::new();
        for (is_text, payload, fragments, mask) in &messages {
            let chunk = payload.len().div_ceil(*fragments).max(1);
            let pieces: Vec<&[u8]> =
                if payload.is_empty() { vec![&[]] } else { payload.chunks(chunk).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = match (i, is_text) {
                    (0, true) => Opcode::Text,
                    (0, false) => Opcode::Binary,
                    _ => Opcode::Continuation,
                };
                let fin = i + 1 == pieces.len();
                encode_client_frame(&mut input, opcode, fin, piece, *mask);
                if !fin {
                    encode_client_frame(&mut input, Opcode::Ping, true, &[i as u8], *mask);
                    expected.push(WsEvent::Ping(vec![i as u8].into()));
                }
            }
            let payload = Bytes::from(payload.clone());
            expected.push(if *is_text { WsEvent::Text(payload) } else { WsEvent::Binary(payload) });
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(input.len())).collect();
        offsets.push(input.len());
        offsets.sort_unstable();
        let mut decoder = FrameDecoder::new(LIMITS);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut start = 0;
        for end in offsets {
            buf.extend_from_slice(&input[start..end]);
            start = end;
            events.extend(decode_all(&mut decoder, &mut buf).unwrap());
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(events, expected);
    }
}
