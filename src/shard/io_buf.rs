//! Buffer handling shared by every socket reader on a shard (client connections, TLS handshakes,
//! broker connections), so that none of them reaches into another's module for it.

use bytes::BytesMut;
use monoio::buf::{IoBufMut, SliceMut};

/// The free space after `buf`'s bytes, for a read to append into.
///
/// monoio reads into a `BytesMut` from its *start*; handing it the buffer itself would overwrite
/// bytes still waiting to be parsed (a request head or frame split across reads).
pub fn spare_capacity(mut buf: BytesMut, at_least_bytes: usize) -> SliceMut<BytesMut> {
    buf.reserve(at_least_bytes);
    let (len, capacity) = (buf.len(), buf.capacity());
    buf.slice_mut(len..capacity)
}
