//! A blocking WebSocket client for the tests (tungstenite over a real socket), and what tests
//! read from it: the next data message with its frame type, the closing frame.

use std::net::{SocketAddr, TcpStream};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

pub type WsClient = WebSocket<TcpStream>;

/// Opens a WebSocket on `path` (query included) and checks the 101.
pub fn ws_open(addr: SocketAddr, path: &str) -> WsClient {
    let stream = super::connect(addr);
    let (socket, response) =
        tungstenite::client::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// A data message as received: its frame type and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

/// The next data message, skipping control frames; panics on a close or an error.
pub fn next_data(socket: &mut WsClient) -> Data {
    loop {
        match socket.read().expect("read a data message") {
            Message::Text(text) => return Data::Text(text.to_string()),
            Message::Binary(bytes) => return Data::Binary(bytes.to_vec()),
            Message::Close(frame) => panic!("closed instead of a message: {frame:?}"),
            _ => continue,
        }
    }
}

/// The gateway's close frame (code and reason), skipping what comes before it.
pub fn close_frame(socket: &mut WsClient) -> (CloseCode, String) {
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => return (frame.code, frame.reason.to_string()),
            Ok(Message::Close(None)) => panic!("close without a code"),
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    }
}
