//! Reads record batches as the broker holds them: one raw Fetch (the `kafka-protocol` crate's
//! wire forms) over a blocking socket, and each batch's header from the returned records, so
//! a test can see what a producer really sent (its compression codec), which a consumer
//! library hides by decompressing.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};

/// Fetch v4: topics by name, record batches (magic 2) in the answer.
const FETCH_VERSION: i16 = 4;

/// The codec in a record batch's attributes (bits 0–2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    Unknown(i16),
}

impl Codec {
    fn from_attributes(attributes: i16) -> Codec {
        match attributes & 0x7 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => Codec::Unknown(other),
        }
    }

    /// The codec `producer.compressionType` names.
    pub fn named(name: &str) -> Codec {
        match name {
            "none" => Codec::None,
            "gzip" => Codec::Gzip,
            "snappy" => Codec::Snappy,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            other => panic!("no codec named {other}"),
        }
    }
}

/// The codec of every record batch of `topic`'s `partition` from offset 0, as the broker at
/// `addr` returns them.
pub fn batch_codecs(addr: SocketAddr, topic: &str, partition: i32) -> Vec<Codec> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(16 * 1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(16 * 1024 * 1024)])]);
    let response = exchange(addr, &request);
    assert_eq!(response.error_code, 0, "fetch failed: {response:?}");
    let data = response
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .find(|data| data.partition_index == partition)
        .unwrap_or_else(|| panic!("no partition {partition} in {response:?}"));
    assert_eq!(data.error_code, 0, "fetch of {topic}/{partition} failed");
    let mut records = data.records.clone().unwrap_or_default();
    let mut codecs = Vec::new();
    // A batch: baseOffset i64, batchLength i32 (what follows), partitionLeaderEpoch i32,
    // magic i8, crc u32, attributes i16, ... A trailing partial batch may be cut off.
    while records.remaining() >= 12 {
        let _base_offset = records.get_i64();
        let length = records.get_i32() as usize;
        if records.remaining() < length {
            break;
        }
        let mut batch = records.split_to(length);
        let _leader_epoch = batch.get_i32();
        let magic = batch.get_i8();
        assert_eq!(magic, 2, "a record batch, not a legacy message set");
        let _crc = batch.get_u32();
        codecs.push(Codec::from_attributes(batch.get_i16()));
    }
    codecs
}

/// Sends one Fetch and reads its answer.
fn exchange(addr: SocketAddr, request: &FetchRequest) -> FetchResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(FETCH_VERSION)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("batch-reader")));
    let mut body = BytesMut::new();
    encode_request_header_into_buffer(&mut body, &header).unwrap();
    request.encode(&mut body, FETCH_VERSION).unwrap();
    stream
        .write_all(&(body.len() as u32).to_be_bytes())
        .unwrap();
    stream.write_all(&body).unwrap();
    let mut length = [0; 4];
    stream.read_exact(&mut length).expect("a Fetch answer");
    let mut answer = vec![0; u32::from_be_bytes(length) as usize];
    stream.read_exact(&mut answer).unwrap();
    let mut answer = Bytes::from(answer);
    ResponseHeader::decode(&mut answer, FetchResponse::header_version(FETCH_VERSION)).unwrap();
    FetchResponse::decode(&mut answer, FETCH_VERSION).unwrap()
}
