//! Docker's API (and podman's copy of it): one HTTP/1.1 GET on a unix socket, read by hand.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixStream,
};

use super::{
    meta::{is_full_id, name_from_labels, pod_from_labels, Metadata},
    path::Runtime,
    source::{find_socket, Listing, Source, SourceError},
};

const CALL: &str = "GET /containers/json";
/// Unversioned, so any daemon answers with its own default API version.
const TARGET: &str = "/containers/json?all=1";
/// A listing is some kB per container; anything past this is not a sane answer.
const MAX_RESPONSE: u64 = 64 << 20;
/// cri-dockerd marks a pod's sandbox with this label.
const DOCKER_TYPE: &str = "io.kubernetes.docker.type";

pub struct DockerSource {
    runtime: Runtime,
    paths: Vec<PathBuf>,
}

impl DockerSource {
    pub fn new(runtime: Runtime, paths: Vec<PathBuf>) -> Self {
        DockerSource { runtime, paths }
    }

    async fn list_all(&self) -> Result<Vec<Metadata>, SourceError> {
        let socket = find_socket(&self.paths)?;
        let raw = get(socket, TARGET).await.map_err(|err| match err.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => SourceError::Absent {
                looked_for: self.paths.clone(),
            },
            _ => SourceError::Io(err),
        })?;
        let malformed = |why: String| SourceError::Malformed { call: CALL, why };
        let (status, body) = parse_response(&raw).map_err(malformed)?;
        if status != 200 {
            return Err(SourceError::Http { call: CALL, status });
        }
        let listed: Vec<Container> =
            serde_json::from_slice(&body).map_err(|e| malformed(e.to_string()))?;
        Ok(to_metadata(self.runtime, listed))
    }
}

impl Source for DockerSource {
    fn describe(&self) -> String {
        let socket = find_socket(&self.paths).map(Path::to_owned);
        let socket = socket.unwrap_or_else(|_| self.paths.first().cloned().unwrap_or_default());
        format!("{} at {}", self.runtime, socket.display())
    }

    fn list(&mut self) -> Listing<'_> {
        Box::pin(self.list_all())
    }
}

/// The raw answer to `GET target`, read until the server closes (`Connection: close`).
async fn get(socket: &Path, target: &str) -> io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket).await?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: exitwatch\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
    Ok(raw)
}

/// Pure: the status and body of an HTTP/1.1 response, body de-chunked.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [version, code, ..] if version.starts_with("HTTP/1.") => code.parse().ok(),
        _ => None,
    };
    let status = status.ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        }
    }
    let body = match (chunked, length) {
        (true, _) => dechunk(body)?,
        (false, Some(n)) => body
            .get(..n)
            .ok_or("body shorter than its Content-Length")?
            .to_vec(),
        (false, None) => body.to_vec(),
    };
    Ok((status, body))
}

/// Pure: a `Transfer-Encoding: chunked` body, joined; it must end with its zero-size chunk.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut short")?;
        let size_line = std::str::from_utf8(&rest[..eol]).map_err(|_| "bad chunk size")?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("chunked body cut short")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("chunked body cut short")?;
    }
}

/// One entry of `/containers/json`, the fields read.
#[derive(Deserialize)]
struct Container {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Vec<String>,
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Kubernetes' container name first (cri-dockerd names containers `k8s_<container>_<pod>_...`).
fn to_metadata(runtime: Runtime, containers: Vec<Container>) -> Vec<Metadata> {
    containers
        .into_iter()
        .filter(|c| is_full_id(&c.id))
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            let docker_name = c
                .names
                .first()
                .map(|n| n.strip_prefix('/').unwrap_or(n).to_owned());
            Metadata {
                name: name_from_labels(&labels).or(docker_name),
                image: Some(c.image).filter(|i| !i.is_empty()),
                pod: pod_from_labels(&labels),
                sandbox: labels.get(DOCKER_TYPE).is_some_and(|t| t == "podsandbox"),
                labels,
                ..Metadata::new(c.id, runtime)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

    #[test]
    fn reads_content_length_chunked_and_close_delimited_bodies() {
        let plain =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain), Ok((200, b"[]".to_vec())));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n[{}\r\na;x=y\r\n,{},{},{}]\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked),
            Ok((200, b"[{},{},{},{}]".to_vec()))
        );
        let closed = b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"page not found\"}";
        assert_eq!(parse_response(closed).map(|(s, _)| s), Ok(404));
    }

    #[test]
    fn refuses_truncated_answers() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{}")
                .is_err()
        );
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n"
        )
        .is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn names_lose_the_slash_and_null_labels_are_empty() {
        let json = format!(
            r#"[{{"Id":"{ID}","Names":["/web"],"Image":"bbox:local","Labels":null,"State":"running"}},
               {{"Id":"short","Names":["/x"],"Image":"i","Labels":{{}}}}]"#
        );
        let listed: Vec<Container> = serde_json::from_str(&json).unwrap_or_default();
        let out = to_metadata(Runtime::Docker, listed);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].name.as_deref(), out[0].image.as_deref()),
            (Some("web"), Some("bbox:local"))
        );
        assert!(out[0].labels.is_empty() && out[0].pod.is_none());
    }

    #[test]
    fn cri_dockerd_containers_name_their_pod() {
        let json = format!(
            r#"[{{"Id":"{ID}","Names":["/k8s_POD_web-0_shop_u_0"],"Image":"pause","Labels":{{
                "io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop",
                "io.kubernetes.pod.uid":"u","io.kubernetes.docker.type":"podsandbox"}}}}]"#
        );
        let listed: Vec<Container> = serde_json::from_str(&json).unwrap_or_default();
        let out = to_metadata(Runtime::Docker, listed);
        assert!(out[0].sandbox);
        assert_eq!(
            out[0].pod.as_ref().map(|p| p.namespace.as_str()),
            Some("shop")
        );
    }
}
