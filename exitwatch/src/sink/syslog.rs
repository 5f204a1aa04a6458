//! Syslog outputs: RFC 5424 messages, over TCP with RFC 6587 octet-counting framing
//! (`syslog+tcp://`), the same over TLS (`syslog+tls://`, RFC 5425), or one per UDP datagram,
//! cut to fit (`syslog+udp://`, RFC 5426).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;

use super::retry::Streak;
use super::spec::{SinkSpec, Transport};
use super::{Queue, Record, SinkError};
use crate::timefmt::rfc3339_nanos;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Events framed into one TCP write, at most.
const TCP_CHUNK: usize = 64 * 1024;

/// The RFC 5424 header fields that do not change between messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub facility: u8,
    /// HOSTNAME: printable US-ASCII, at most 255 characters.
    pub hostname: String,
    pub procid: u32,
}

impl Header {
    pub fn new(facility: u8, node: &str, procid: u32) -> Header {
        let hostname: String = node
            .chars()
            .take(255)
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        Header {
            facility,
            hostname: if hostname.is_empty() {
                "-".into()
            } else {
                hostname
            },
            procid,
        }
    }

    /// `<PRI>1 TIMESTAMP HOSTNAME exitwatch PROCID MSGID - MSG`: MSGID is the event kind, MSG
    /// the rendered event without its final newline (no BOM: JSON parsers downstream choke on it).
    pub fn message(&self, rec: &Record) -> Vec<u8> {
        let pri = u16::from(self.facility) * 8 + u16::from(rec.severity.min(7));
        let msg = rec.line.strip_suffix(b"\n").unwrap_or(&rec.line);
        let mut out = format!(
            "<{pri}>1 {} {} exitwatch {} {} - ",
            timestamp(rec.time_ns),
            self.hostname,
            self.procid,
            rec.kind
        )
        .into_bytes();
        out.extend_from_slice(msg);
        out
    }
}

/// RFC 5424 TIMESTAMP: UTC with at most six fractional digits.
pub fn timestamp(unix_ns: i128) -> String {
    let mut t = rfc3339_nanos(unix_ns);
    // "...:33.468383615Z" -> "...:33.468383Z"
    t.truncate(t.len() - 4);
    t.push('Z');
    t
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`.
pub fn octet_frame(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// Cuts `msg` to at most `max` bytes without splitting a UTF-8 character; true if it was cut.
pub fn truncate(msg: &mut Vec<u8>, max: usize) -> bool {
    if msg.len() <= max {
        return false;
    }
    let mut end = max;
    // Back off over continuation bytes (10xxxxxx) to the start of the character cut in two.
    while end > 0 && msg[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    msg.truncate(end);
    true
}

/// A byte stream to the receiver: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A syslog receiver and how to talk to it.
pub struct Target {
    transport: Transport,
    host: String,
    port: u16,
    header: Header,
    max_size: usize,
    /// syslog+tls: the client configuration and the name the certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    /// `tls` is the client configuration of TLS outputs, given when `spec` is syslog+tls.
    pub fn new(
        spec: &SinkSpec,
        node: &str,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Target, SinkError> {
        let SinkSpec::Syslog {
            transport,
            host,
            port,
            facility,
            max_size,
        } = spec
        else {
            unreachable!("a syslog spec")
        };
        let tls = match (transport, tls) {
            (Transport::Tls, Some(config)) => {
                // SNI and certificate checks use the host as written: a DNS name or an IP address.
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    SinkError::Usage(format!(
                        "--output {}: {host} is not a TLS server name: {e}",
                        spec.label()
                    ))
                })?;
                Some((TlsConnector::from(config), name))
            }
            (Transport::Tls, None) => unreachable!("syslog+tls gets the TLS configuration"),
            _ => None,
        };
        Ok(Target {
            transport: *transport,
            host: host.clone(),
            port: *port,
            header: Header::new(*facility, node, std::process::id()),
            max_size: *max_size,
            tls,
        })
    }

    pub async fn run(self, queue: Queue) {
        match self.transport {
            Transport::Tcp | Transport::Tls => self.run_tcp(queue).await,
            Transport::Udp => self.run_udp(queue).await,
        }
    }

    async fn resolve(&self) -> io::Result<SocketAddr> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .next()
            .ok_or_else(|| io::Error::other(format!("{} has no address", self.host)))
    }

    async fn run_tcp(self, mut queue: Queue) {
        let mut conn: Option<Box<dyn Stream>> = None;
        let mut streak = Streak::default();
        while let Some(first) = queue.recv().await {
            let mut chunk = Vec::new();
            octet_frame(&self.header.message(&first), &mut chunk);
            let mut n = 1;
            while chunk.len() < TCP_CHUNK {
                let Some(next) = queue.try_recv() else { break };
                octet_frame(&self.header.message(&next), &mut chunk);
                n += 1;
            }
            loop {
                match self.send_tcp(&mut conn, &chunk).await {
                    Ok(()) => {
                        streak.succeeded(&queue.stats);
                        queue.stats.sent.fetch_add(n as u64, Relaxed);
                        break;
                    }
                    Err(e) => {
                        conn = None;
                        let wait = streak.failed(&queue.stats, &e.to_string());
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            queue.settled(n);
        }
        if let Some(mut c) = conn {
            let _ = c.shutdown().await;
        }
    }

    async fn send_tcp(&self, conn: &mut Option<Box<dyn Stream>>, chunk: &[u8]) -> io::Result<()> {
        if let Some(stream) = conn {
            // A receiver that closed (restarted) is noticed before the chunk is written into
            // a dead connection and lost.
            if closed(stream.as_mut()).await {
                *conn = None;
            }
        }
        if conn.is_none() {
            *conn = Some(self.connect().await?);
        }
        let stream = conn.as_mut().expect("connected");
        tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(chunk).await?;
            // TLS buffers what it encrypts: push it out.
            stream.flush().await
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the receiver stopped reading"))?
    }

    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let addr = self.resolve().await?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        let Some((connector, name)) = &self.tls else {
            return Ok(Box::new(stream));
        };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out"))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("TLS handshake: {e} (is the receiver's certificate signed by a CA of --ca-file, for this host name?)"),
                )
            })?;
        Ok(Box::new(tls))
    }

    async fn run_udp(self, mut queue: Queue) {
        let mut socket: Option<UdpSocket> = None;
        let mut streak = Streak::default();
        while let Some(rec) = queue.recv().await {
            let mut msg = self.header.message(&rec);
            if truncate(&mut msg, self.max_size) {
                queue.stats.truncated.fetch_add(1, Relaxed);
            }
            loop {
                match self.send_udp(&mut socket, &msg).await {
                    Ok(()) => {
                        streak.succeeded(&queue.stats);
                        queue.stats.sent.fetch_add(1, Relaxed);
                        break;
                    }
                    Err(e) => {
                        socket = None;
                        let wait = streak.failed(&queue.stats, &e.to_string());
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            queue.settled(1);
        }
    }

    async fn send_udp(&self, socket: &mut Option<UdpSocket>, msg: &[u8]) -> io::Result<()> {
        if socket.is_none() {
            let addr = self.resolve().await?;
            let local: SocketAddr = match addr {
                SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
                SocketAddr::V6(_) => ([0u16; 8], 0).into(),
            };
            let s = UdpSocket::bind(local).await?;
            s.connect(addr).await?;
            *socket = Some(s);
        }
        // A connected socket reports the receiver's ICMP "port unreachable" on a later send.
        socket.as_ref().expect("bound").send(msg).await.map(drop)
    }
}

/// How much a receiver's unasked-for bytes are read and thrown away before each write.
const DISCARD: usize = 4096;

/// Whether the receiver closed the connection (or broke it), looking without waiting. Syslog
/// receivers say nothing back: what they do send is read (a bounded amount) and thrown away.
async fn closed(stream: &mut dyn Stream) -> bool {
    let mut buf = [0u8; DISCARD];
    // A zero timeout polls the read once: ready (data, end of stream, error) or not.
    match tokio::time::timeout(Duration::ZERO, stream.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(n)) => n == 0,
        Ok(Err(_)) => true,
    }
}

#[cfg(test)]
mod tests;
