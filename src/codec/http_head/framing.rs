//! How the request body is delimited (RFC 9112 §6), decided once from the header fields, and
//! strictly: see the choices listed in the parent module.

use super::{BodyFraming, HeadError};

/// The framing `headers` announce; anything ambiguous is an error.
pub(super) fn body_framing_of(
    headers: &[httparse::Header<'_>],
    version_minor: u8,
) -> Result<BodyFraming, HeadError> {
    let mut length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut has_transfer_encoding = false;
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            for item in header.value.split(|&b| b == b',') {
                let value =
                    parse_decimal(item.trim_ascii()).ok_or(HeadError::InvalidContentLength)?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(HeadError::InvalidContentLength);
                }
                length = Some(value);
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            has_transfer_encoding = true;
            codings.extend(
                header
                    .value
                    .split(|&b| b == b',')
                    .map(<[u8]>::trim_ascii)
                    .filter(|coding| !coding.is_empty()),
            );
        }
    }
    if !has_transfer_encoding {
        return Ok(length.map_or(BodyFraming::Empty, BodyFraming::Length));
    }
    if length.is_some() {
        return Err(HeadError::LengthAndTransferEncoding);
    }
    if version_minor == 0 {
        return Err(HeadError::TransferEncodingInHttp10);
    }
    let is_chunked = |coding: &&[u8]| coding.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, rest)) if is_chunked(last) && !rest.iter().any(is_chunked) => {
            match rest.first() {
                None => Ok(BodyFraming::Chunked),
                Some(other) => Err(HeadError::UnsupportedTransferCoding(
                    String::from_utf8_lossy(other).into_owned(),
                )),
            }
        }
        Some(_) if codings.iter().any(is_chunked) => Err(HeadError::ChunkedNotFinal),
        Some((last, _)) => Err(HeadError::UnsupportedTransferCoding(
            String::from_utf8_lossy(last).into_owned(),
        )),
        None => Err(HeadError::ChunkedNotFinal),
    }
}

/// 1*DIGIT as u64; `None` on anything else, including overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
