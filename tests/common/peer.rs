//! A raw HTTP peer for tests about what the binary sends to hosts it talks to: it records
//! every request head it receives and answers with what the test tells it to, including
//! answers no honest server gives (a redirect to another host, a file longer than listed).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// How the peer answers one request.
pub enum Reply {
    /// This status, these extra headers and this body, then close.
    Fixed(u16, Vec<(String, String)>, Vec<u8>),
    /// 200 with a `Content-Length` of this many bytes, streamed until the client hangs up.
    Endless(u64),
}

/// One request the peer received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request line and headers, as received.
    pub head: String,
    /// Body bytes written in answer before the client hung up (or all of them).
    pub written: u64,
}

impl Seen {
    /// The request target (path and query).
    pub fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A listening peer on 127.0.0.1.
pub struct Peer {
    /// Its port.
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Peer {
    /// Starts a peer that answers each request head with `respond(head)`.
    pub fn start(respond: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind peer");
        let port = listener.local_addr().expect("peer addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let respond = Arc::new(respond);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let log = log.clone();
                let respond = respond.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let written = match respond(&head) {
                        Reply::Fixed(status, headers, body) => {
                            let mut out = format!(
                                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                                body.len()
                            );
                            for (k, v) in headers {
                                out.push_str(&format!("{k}: {v}\r\n"));
                            }
                            out.push_str("\r\n");
                            let _ = s.write_all(out.as_bytes());
                            let _ = s.write_all(&body);
                            body.len() as u64
                        }
                        Reply::Endless(len) => {
                            let _ = s.write_all(
                                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                                    .as_bytes(),
                            );
                            let chunk = vec![b'x'; 64 * 1024];
                            let mut written = 0u64;
                            while written < len {
                                let n = chunk.len().min((len - written) as usize);
                                if s.write_all(&chunk[..n]).is_err() {
                                    break;
                                }
                                written += n as u64;
                            }
                            written
                        }
                    };
                    log.lock().expect("peer log").push(Seen { head, written });
                });
            }
        });
        Peer { port, seen }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("peer log").clone()
    }
}
