//! The few Redis commands trafficpublish needs (AUTH, SELECT, PING, XADD), spoken as RESP2 over
//! a plain TCP stream with timeouts. Hand-written because the `redis` crate would bring an async
//! runtime and a large tree for four commands.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where to connect: `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

// The password stays out of logs and error messages.
impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "redis://{}:{}/{}", host, self.port, self.db)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl RedisUrl {
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let bad = |why: &str| format!("bad Redis URL '{url}': {why} (expected redis://[:password@]host[:port][/db])");
        let rest = url.strip_prefix("redis://").ok_or_else(|| bad("it must start with redis://"))?;
        let (authority, db) = match rest.split_once('/') {
            Some((a, "")) => (a, 0),
            Some((a, db)) => (a, db.parse().map_err(|_| bad("the database must be a number"))?),
            None => (rest, 0),
        };
        let (credentials, address) = match authority.rsplit_once('@') {
            Some((c, a)) => (Some(c), a),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(u.to_string()).filter(|u| !u.is_empty()), Some(p.to_string())),
                None => (None, Some(c.to_string())),
            },
            None => (None, None),
        };
        let (host, port) = if let Some(v6) = address.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match address.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (address, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port must be a number"))?,
            None => 6379,
        };
        Ok(RedisUrl { host: host.to_string(), port, username, password, db })
    }
}

/// A RESP2 reply. Server errors (`-ERR ...`) become `io::Error`s in [`Connection::command`].
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// A command as RESP2 sends it: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Larger bulk strings or arrays than this mean a confused stream, not a reply to our commands.
const MAX_REPLY_LEN: i64 = 64 << 20;

fn protocol_error(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Redis protocol error: {what}"))
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection"));
    }
    if !line.ends_with(b"\r\n") {
        return Err(protocol_error("a line without CRLF"));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| protocol_error("a non-UTF-8 line"))
}

fn read_len(text: &str) -> io::Result<i64> {
    let n: i64 = text.parse().map_err(|_| protocol_error(format!("bad length '{text}'")))?;
    if n > MAX_REPLY_LEN {
        return Err(protocol_error(format!("length {n} too large")));
    }
    Ok(n)
}

/// Reads one reply.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(rest.parse().map_err(|_| protocol_error(format!("bad integer '{rest}'")))?),
        "$" => match read_len(rest)? {
            n if n < 0 => Reply::Bulk(None),
            n => {
                let mut data = vec![0; n as usize + 2];
                r.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(protocol_error("a bulk string without CRLF"));
                }
                data.truncate(n as usize);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match read_len(rest)? {
            n if n < 0 => Reply::Array(None),
            n => Reply::Array(Some((0..n).map(|_| read_reply(r)).collect::<io::Result<_>>()?)),
        },
        _ => return Err(protocol_error(format!("unknown reply type in '{line}'"))),
    })
}

/// An error reply of the server (`-ERR ...`): Redis is up and said no.
#[derive(Debug)]
pub struct ServerReply(pub String);

impl fmt::Display for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis: {}", self.0)
    }
}

impl std::error::Error for ServerReply {}

/// The server's error reply behind `e`, if it is one (and not a network failure).
pub fn server_reply(e: &io::Error) -> Option<&str> {
    e.get_ref()?.downcast_ref::<ServerReply>().map(|r| r.0.as_str())
}

/// Whether a reply says our settings are wrong, so that no retry can help: wrong or missing
/// credentials, a stream key holding another type, a database that does not exist.
pub fn is_configuration_reply(reply: &str) -> bool {
    let code = reply.split_whitespace().next().unwrap_or("");
    matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM" | "WRONGTYPE")
        || reply.contains("AUTH")
        || reply.contains("password")
        || reply.contains("DB index")
}

pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    /// Connects within `timeout` (per address tried), authenticates, selects the database and
    /// checks the server answers. Every later read and write also gives up after `timeout`.
    pub fn open(url: &RedisUrl, timeout: Duration) -> io::Result<Connection> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to no address", url.host));
        for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    // Commands are small and each waits for its reply: Nagle would only add delay.
                    stream.set_nodelay(true)?;
                    let mut conn = Connection { reader: BufReader::new(stream.try_clone()?), writer: stream };
                    conn.handshake(url)?;
                    return Ok(conn);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn handshake(&mut self, url: &RedisUrl) -> io::Result<()> {
        if let Some(password) = &url.password {
            match &url.username {
                Some(user) => self.command(&[b"AUTH", user.as_bytes(), password.as_bytes()])?,
                None => self.command(&[b"AUTH", password.as_bytes()])?,
            };
        }
        if url.db != 0 {
            self.command(&[b"SELECT", url.db.to_string().as_bytes()])?;
        }
        match self.command(&[b"PING"])? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            other => Err(protocol_error(format!("PING answered {other:?}"))),
        }
    }

    /// Sends a command and reads its reply; a server error reply is an `io::Error` too,
    /// holding a [`ServerReply`].
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.writer.write_all(&encode(args))?;
        match read_reply(&mut self.reader)? {
            Reply::Error(e) => Err(io::Error::other(ServerReply(e))),
            reply => Ok(reply),
        }
    }

    /// `XADD key [MAXLEN ~ maxlen] * field value ...`; returns the entry's id. `maxlen` 0: no trim.
    pub fn xadd(&mut self, key: &str, maxlen: u64, fields: &[(&str, &str)]) -> io::Result<String> {
        let maxlen_text = maxlen.to_string();
        let mut args: Vec<&[u8]> = vec![b"XADD", key.as_bytes()];
        if maxlen > 0 {
            // '~' lets Redis trim whole macro nodes: far cheaper than an exact length.
            args.extend_from_slice(&[b"MAXLEN", b"~", maxlen_text.as_bytes()]);
        }
        args.push(b"*");
        for (f, v) in fields {
            args.push(f.as_bytes());
            args.push(v.as_bytes());
        }
        match self.command(&args)? {
            Reply::Bulk(Some(id)) => String::from_utf8(id).map_err(|_| protocol_error("a non-UTF-8 entry id")),
            other => Err(protocol_error(format!("XADD answered {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        assert_eq!(encode(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode(&[b"XADD", b"s", b"*", b"event", "{\"é\":1}".as_bytes()]),
            b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$5\r\nevent\r\n$8\r\n{\"\xc3\xa9\":1}\r\n".to_vec()
        );
        assert_eq!(encode(&[b""]), b"*1\r\n$0\r\n\r\n");
    }

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut io::Cursor::new(bytes))
    }

    #[test]
    fn parses_every_reply_type() {
        assert_eq!(parse(b"+PONG\r\n").unwrap(), Reply::Status("PONG".into()));
        assert_eq!(parse(b"-ERR wrong\r\n").unwrap(), Reply::Error("ERR wrong".into()));
        assert_eq!(parse(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(parse(b"$5\r\na\r\nbc\r\n").unwrap(), Reply::Bulk(Some(b"a\r\nbc".to_vec())));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Array(None));
        assert_eq!(
            parse(b"*2\r\n$15\r\n1700000000000-0\r\n*2\r\n$5\r\nevent\r\n$2\r\n{}\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"1700000000000-0".to_vec())),
                Reply::Array(Some(vec![Reply::Bulk(Some(b"event".to_vec())), Reply::Bulk(Some(b"{}".to_vec()))])),
            ]))
        );
    }

    #[test]
    fn rejects_truncated_or_garbled_replies() {
        assert_eq!(parse(b"").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(parse(b"$5\r\nab").is_err());
        assert!(parse(b"+OK\n").is_err());
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b"$99999999999\r\n").is_err());
        assert!(parse(b"*2\r\n:1\r\n").is_err());
    }

    #[test]
    fn parses_urls() {
        let u = RedisUrl::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db, u.password.clone()), ("127.0.0.1", 6380, 0, None));
        let u = RedisUrl::parse("redis://:s3cret@cache/2").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("cache", 6379, 2));
        assert_eq!((u.username, u.password.as_deref()), (None, Some("s3cret")));
        let u = RedisUrl::parse("redis://bob:pw@[::1]:7000/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.username.as_deref(), u.password.as_deref()),
            ("::1", 7000, Some("bob"), Some("pw"))
        );
        assert_eq!(u.to_string(), "redis://[::1]:7000/0", "no password in the display form");
        for bad in ["http://x", "redis://", "redis://h:port", "redis://h/db", "redis://[::1"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// A one-shot server on a loopback port answering with canned bytes, recording what it got.
    fn fake_server(replies: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(replies).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            got
        });
        (port, handle)
    }

    #[test]
    fn authenticates_selects_and_adds_with_approximate_trim() {
        let (port, server) = fake_server(b"+OK\r\n+OK\r\n+PONG\r\n$3\r\n1-0\r\n");
        let url = RedisUrl::parse(&format!("redis://:pw@127.0.0.1:{port}/3")).unwrap();
        let mut conn = Connection::open(&url, Duration::from_secs(2)).unwrap();
        assert_eq!(conn.xadd("s", 100, &[("event", "{}")]).unwrap(), "1-0");
        drop(conn);
        let mut want = encode(&[b"AUTH", b"pw"]);
        want.extend(encode(&[b"SELECT", b"3"]));
        want.extend(encode(&[b"PING"]));
        want.extend(encode(&[b"XADD", b"s", b"MAXLEN", b"~", b"100", b"*", b"event", b"{}"]));
        assert_eq!(String::from_utf8_lossy(&server.join().unwrap()), String::from_utf8_lossy(&want));
    }

    #[test]
    fn a_server_error_is_an_error() {
        let (port, _server) = fake_server(b"-NOAUTH Authentication required.\r\n");
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let err = Connection::open(&url, Duration::from_secs(2)).err().expect("PING refused");
        assert!(err.to_string().contains("NOAUTH"), "{err}");
    }
}
