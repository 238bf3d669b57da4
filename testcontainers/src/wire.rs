//! The harness' own minimal Kafka requests (ApiVersions v0, Metadata v4), enough to know that a broker
//! answers and what it knows about brokers and topics. Independent of the client under test on purpose.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};

/// What one broker's metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Live (unfenced) brokers: node id, host, port.
    pub brokers: Vec<BrokerInfo>,
    /// Node id of the active controller as the broker reports it (-1 when unknown; in KRaft clusters,
    /// a random broker's id rather than the controller's).
    pub controller_id: i32,
    /// The topics asked for (all topics when asked with `None`); unknown ones come with an error code.
    pub topics: Vec<TopicInfo>,
}

/// One broker of a [`Metadata`] response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker's `node.id`.
    pub node_id: i32,
    /// The host of its advertised listener.
    pub host: String,
    /// The port of its advertised listener.
    pub port: i32,
}

/// One topic of a [`Metadata`] response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Kafka error code, 0 when the topic exists (3 = unknown topic or partition).
    pub error_code: i16,
    /// The topic's name.
    pub name: String,
    /// Its partitions; empty when the topic does not exist.
    pub partitions: Vec<PartitionInfo>,
}

/// One partition of a [`TopicInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Kafka error code, 0 when the partition is fine (e.g. 5 = leader not available).
    pub error_code: i16,
    /// The partition's index.
    pub partition: i32,
    /// -1 when there is no leader.
    pub leader: i32,
    /// Node ids of its replicas, the preferred leader first.
    pub replicas: Vec<i32>,
    /// Node ids of its in-sync replicas.
    pub isr: Vec<i32>,
}

impl Metadata {
    /// The topic named `name`, if the response has it.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.name == name)
    }
}

impl TopicInfo {
    /// Exists, has `partitions` partitions (any count when `None`) and all of them have a leader.
    pub fn is_ready(&self, partitions: Option<usize>) -> bool {
        self.error_code == 0
            && !self.partitions.is_empty()
            && partitions.is_none_or(|n| n == self.partitions.len())
            && self.partitions.iter().all(|p| p.leader >= 0)
    }
}

fn io(addr: &str, e: std::io::Error) -> Error {
    Error::Io {
        context: format!("Kafka request to {addr}"),
        source: e,
    }
}

fn request(addr: &str, api_key: i16, version: i16, body: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| io(addr, e))?
        .next()
        .ok_or_else(|| Error::Protocol(format!("{addr} resolves to nothing")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout).map_err(|e| io(addr, e))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| io(addr, e))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| io(addr, e))?;
    let client_id = b"kafkaroo-testcontainers";
    let correlation_id: i32 = 0x6b72;
    let mut msg = Vec::with_capacity(64 + body.len());
    msg.extend_from_slice(&[0; 4]);
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&version.to_be_bytes());
    msg.extend_from_slice(&correlation_id.to_be_bytes());
    msg.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    msg.extend_from_slice(client_id);
    msg.extend_from_slice(body);
    let size = (msg.len() - 4) as i32;
    msg[..4].copy_from_slice(&size.to_be_bytes());
    stream.write_all(&msg).map_err(|e| io(addr, e))?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(|e| io(addr, e))?;
    let len = i32::from_be_bytes(len);
    if !(4..=64 << 20).contains(&len) {
        return Err(Error::Protocol(format!("{addr} answered a frame of {len} bytes")));
    }
    let mut resp = vec![0u8; len as usize];
    stream.read_exact(&mut resp).map_err(|e| io(addr, e))?;
    let got = i32::from_be_bytes(resp[..4].try_into().expect("4 bytes"));
    if got != correlation_id {
        return Err(Error::Protocol(format!("{addr} answered correlation id {got}")));
    }
    resp.drain(..4);
    Ok(resp)
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() < n {
            return Err(Error::Protocol(format!("truncated {} response", self.what)));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn bool(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }
    fn nullable_string(&mut self) -> Result<Option<String>> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(self.take(len as usize)?).into_owned(),
        ))
    }
    fn string(&mut self) -> Result<String> {
        Ok(self.nullable_string()?.unwrap_or_default())
    }
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let n = self.i32()?;
        (0..n.max(0)).map(|_| item(self)).collect()
    }
}

/// ApiVersions v0: Ok when the broker answers without error.
pub(crate) fn api_versions(addr: &str, timeout: Duration) -> Result<()> {
    let resp = request(addr, 18, 0, &[], timeout)?;
    let mut r = Reader {
        buf: &resp,
        what: "ApiVersions",
    };
    match r.i16()? {
        0 => Ok(()),
        code => Err(Error::Protocol(format!(
            "{addr} answered ApiVersions with error {code}"
        ))),
    }
}

/// Metadata v4 for `topics` (all topics when `None`), never auto-creating topics.
pub(crate) fn metadata(addr: &str, topics: Option<&[&str]>, timeout: Duration) -> Result<Metadata> {
    let mut body = Vec::new();
    match topics {
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(topics) => {
            body.extend_from_slice(&(topics.len() as i32).to_be_bytes());
            for t in topics {
                body.extend_from_slice(&(t.len() as i16).to_be_bytes());
                body.extend_from_slice(t.as_bytes());
            }
        }
    }
    body.push(0); // allow_auto_topic_creation = false
    let resp = request(addr, 3, 4, &body, timeout)?;
    let mut r = Reader {
        buf: &resp,
        what: "Metadata",
    };
    let _throttle = r.i32()?;
    let brokers = r.array(|r| {
        Ok(BrokerInfo {
            node_id: r.i32()?,
            host: r.string()?,
            port: r.i32()?,
        })
        .and_then(|b| {
            let _rack = r.nullable_string()?;
            Ok(b)
        })
    })?;
    let _cluster_id = r.nullable_string()?;
    let controller_id = r.i32()?;
    let topics = r.array(|r| {
        let error_code = r.i16()?;
        let name = r.string()?;
        let _internal = r.bool()?;
        let partitions = r.array(|r| {
            Ok(PartitionInfo {
                error_code: r.i16()?,
                partition: r.i32()?,
                leader: r.i32()?,
                replicas: r.array(Reader::i32)?,
                isr: r.array(Reader::i32)?,
            })
        })?;
        Ok(TopicInfo {
            error_code,
            name,
            partitions,
        })
    })?;
    Ok(Metadata {
        brokers,
        controller_id,
        topics,
    })
}
