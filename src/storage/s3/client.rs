//! A blocking S3 client: requests signed by `rusty-s3` (SigV4 as presigned URLs, sans-IO),
//! sent by `ureq`. Only the calls the back-end needs: HEAD, ranged GET, PUT, copy, DELETE,
//! ListObjectsV2 and multipart uploads. Every object carries its ownership record as user
//! metadata (`x-amz-meta-owner`, `-public`, and `-mtime` once MFMT set one).

use std::io::{self, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use crate::storage::Meta;

/// How long a signed request stays valid: long enough for a slow multi-gigabyte part.
const SIGNED_FOR: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("S3 {method} {key}: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        key: String,
        status: u16,
        body: String,
    },
    #[error("S3 request failed: {0}")]
    Transport(String),
    #[error("S3 answer unreadable: {0}")]
    Parse(String),
    #[error("S3 endpoint: {0}")]
    Config(String),
}

impl S3Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            S3Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The multipart upload is gone: aborted, or (Garage) dropped because a newer version of
    /// the object was written meanwhile.
    pub fn is_no_such_upload(&self) -> bool {
        matches!(self, S3Error::Status { status: 404, body, .. }
            if body.contains("<Code>NoSuchUpload</Code>"))
    }
}

impl From<S3Error> for io::Error {
    fn from(e: S3Error) -> io::Error {
        match e.status() {
            Some(404) => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
            _ => io::Error::other(e.to_string()),
        }
    }
}

fn transport(e: ureq::Error) -> S3Error {
    S3Error::Transport(e.to_string())
}

/// What HEAD tells of an object.
#[derive(Debug, Clone)]
pub struct Head {
    pub len: u64,
    pub modified: SystemTime,
    pub record: Option<Meta>,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub modified: Option<SystemTime>,
}

/// One page of a listing: objects and the "directories" below the prefix.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

/// Where the store is and who we are to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SECURITY: the secret key never reaches a log, even at trace level.
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

pub struct Client {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SECURITY: never the credentials.
        f.debug_struct("Client")
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

/// The metadata headers of a record (and of a modification time, when one was set).
fn record_headers(record: Option<&Meta>, mtime: Option<SystemTime>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(meta) = record {
        headers.push(("x-amz-meta-owner", meta.owner.clone()));
        headers.push(("x-amz-meta-public", meta.public.to_string()));
    }
    if let Some(when) = mtime {
        let secs = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        headers.push(("x-amz-meta-mtime", secs.to_string()));
    }
    headers
}

/// Signs `action` with `headers` among its signed headers (S3 wants every `x-amz-*` header
/// signed); the request must then carry the same headers (`with_headers`).
fn sign_with<'a>(mut action: impl S3Action<'a>, headers: &[(&'static str, String)]) -> String {
    for (name, value) in headers {
        action.headers_mut().insert(*name, value.clone());
    }
    action.sign(SIGNED_FOR).into()
}

fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(&'static str, String)],
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
}

fn header<'r>(response: &'r ureq::http::Response<ureq::Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Client {
    pub fn new(endpoint: &Endpoint) -> Result<Client, S3Error> {
        let url = endpoint
            .url
            .parse()
            .map_err(|e| S3Error::Config(format!("{}: {e}", endpoint.url)))?;
        let bucket = Bucket::new(
            url,
            UrlStyle::Path,
            endpoint.bucket.clone(),
            endpoint.region.clone(),
        )
        .map_err(|e| S3Error::Config(e.to_string()))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .timeout_per_write(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Ok(Client {
            bucket,
            credentials: Credentials::new(&endpoint.access_key, &endpoint.secret_key),
            agent,
        })
    }

    /// Reads an error answer's body (bounded) for the message.
    fn failure(
        method: &'static str,
        key: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> S3Error {
        let mut body = String::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(2048)
            .read_to_string(&mut body);
        S3Error::Status {
            method,
            key: key.to_owned(),
            status: response.status().as_u16(),
            body: body.trim().chars().take(300).collect(),
        }
    }

    fn check(
        method: &'static str,
        key: &str,
        response: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>, S3Error> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Client::failure(method, key, response))
        }
    }

    /// For the calls that can fail after their 200 (a copy, completing a multipart upload):
    /// the body then holds an `<Error>`.
    fn check_late_error(
        method: &'static str,
        key: &str,
        response: ureq::http::Response<ureq::Body>,
    ) -> Result<(), S3Error> {
        let mut response = Client::check(method, key, response)?;
        let body = read_body(&mut response)?;
        if body.contains("<Error>") {
            return Err(S3Error::Status {
                method,
                key: key.to_owned(),
                status: 200,
                body,
            });
        }
        Ok(())
    }

    /// HEAD: `None` when there is no such object.
    pub fn head(&self, key: &str) -> Result<Option<Head>, S3Error> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self.agent.head(url.as_str()).call().map_err(transport)?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let response = Client::check("HEAD", key, response)?;
        let len = header(&response, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let modified = header(&response, "x-amz-meta-mtime")
            .and_then(|v| v.parse().ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
            .or_else(|| {
                header(&response, "last-modified")
                    .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                    .map(SystemTime::from)
            })
            .unwrap_or(UNIX_EPOCH);
        let record = header(&response, "x-amz-meta-owner").map(|owner| Meta {
            owner: owner.to_owned(),
            public: header(&response, "x-amz-meta-public") == Some("true"),
        });
        Ok(Some(Head {
            len,
            modified,
            record,
        }))
    }

    /// GET from `offset` to the end, streamed.
    pub fn get(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, S3Error> {
        let headers = match offset {
            0 => Vec::new(),
            _ => vec![("range", format!("bytes={offset}-"))],
        };
        let url = sign_with(
            self.bucket.get_object(Some(&self.credentials), key),
            &headers,
        );
        let response = with_headers(self.agent.get(url.as_str()), &headers)
            .call()
            .map_err(transport)?;
        let response = Client::check("GET", key, response)?;
        Ok(Box::new(response.into_body().into_reader()))
    }

    /// GET of a small object: its first `limit` bytes and the value of its `header`.
    pub fn get_small(
        &self,
        key: &str,
        limit: u64,
        header_name: &str,
    ) -> Result<(Vec<u8>, Option<String>), S3Error> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self.agent.get(url.as_str()).call().map_err(transport)?;
        let response = Client::check("GET", key, response)?;
        let value = header(&response, header_name).map(str::to_owned);
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| S3Error::Transport(e.to_string()))?;
        Ok((body, value))
    }

    /// PUT of a whole (small) object with its record; returns its ETag.
    pub fn put(
        &self,
        key: &str,
        body: &[u8],
        record: Option<&Meta>,
        mtime: Option<SystemTime>,
    ) -> Result<Option<String>, S3Error> {
        self.put_with(key, body, record_headers(record, mtime))
    }

    /// PUT of a whole object with user metadata (`x-amz-meta-*` headers); returns its ETag.
    pub fn put_with(
        &self,
        key: &str,
        body: &[u8],
        headers: Vec<(&'static str, String)>,
    ) -> Result<Option<String>, S3Error> {
        let url = sign_with(
            self.bucket.put_object(Some(&self.credentials), key),
            &headers,
        );
        let response = with_headers(self.agent.put(url.as_str()), &headers)
            .send(body)
            .map_err(transport)?;
        let response = Client::check("PUT", key, response)?;
        Ok(header(&response, "etag").map(str::to_owned))
    }

    /// CopyObject from `from` to `to` (the same key: a metadata change) with a new record.
    pub fn copy(
        &self,
        from: &str,
        to: &str,
        record: Option<&Meta>,
        mtime: Option<SystemTime>,
    ) -> Result<(), S3Error> {
        let source = format!(
            "/{}/{}",
            self.bucket.name(),
            percent_encoding::utf8_percent_encode(from, KEY_ESCAPES)
        );
        let mut headers = record_headers(record, mtime);
        headers.push(("x-amz-copy-source", source));
        headers.push(("x-amz-metadata-directive", "REPLACE".to_owned()));
        let url = sign_with(
            self.bucket.put_object(Some(&self.credentials), to),
            &headers,
        );
        let response = with_headers(self.agent.put(url.as_str()), &headers)
            .send_empty()
            .map_err(transport)?;
        Client::check_late_error("COPY", to, response)?;
        Ok(())
    }

    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self.agent.delete(url.as_str()).call().map_err(transport)?;
        if response.status().as_u16() == 404 {
            return Ok(());
        }
        Client::check("DELETE", key, response).map(drop)
    }

    /// One page of the keys under `prefix`; with `delimiter`, names below the next `/` are
    /// folded into prefixes.
    pub fn list(
        &self,
        prefix: &str,
        delimiter: bool,
        max_keys: usize,
        token: Option<&str>,
    ) -> Result<Page, S3Error> {
        let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
        action.with_prefix(prefix);
        if delimiter {
            action.with_delimiter("/");
        }
        action.with_max_keys(max_keys);
        if let Some(token) = token {
            action.with_continuation_token(token);
        }
        let url = action.sign(SIGNED_FOR);
        let response = self.agent.get(url.as_str()).call().map_err(transport)?;
        let mut response = Client::check("LIST", prefix, response)?;
        let body = read_body(&mut response)?;
        let parsed =
            ListObjectsV2::parse_response(&body).map_err(|e| S3Error::Parse(e.to_string()))?;
        Ok(Page {
            objects: parsed
                .contents
                .into_iter()
                .map(|c| Listed {
                    modified: c
                        .last_modified
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(SystemTime::from),
                    key: c.key,
                    size: c.size.unwrap_or(0),
                    etag: c.etag,
                })
                .collect(),
            prefixes: parsed
                .common_prefixes
                .into_iter()
                .map(|p| p.prefix)
                .collect(),
            next: parsed.next_continuation_token,
        })
    }

    /// Starts a multipart upload whose object gets `record`; returns its id.
    pub fn create_multipart(&self, key: &str, record: Option<&Meta>) -> Result<String, S3Error> {
        let headers = record_headers(record, None);
        let action = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key);
        let url = sign_with(action, &headers);
        let response = with_headers(self.agent.post(url.as_str()), &headers)
            .send_empty()
            .map_err(transport)?;
        let mut response = Client::check("CREATE-MULTIPART", key, response)?;
        let body = read_body(&mut response)?;
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .map_err(|e| S3Error::Parse(e.to_string()))?;
        Ok(parsed.upload_id().to_owned())
    }

    /// Sends part `number` (from 1); returns its ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: &[u8],
    ) -> Result<String, S3Error> {
        let url = self
            .bucket
            .upload_part(Some(&self.credentials), key, number, upload_id)
            .sign(SIGNED_FOR);
        let response = self.agent.put(url.as_str()).send(body).map_err(transport)?;
        let response = Client::check("UPLOAD-PART", key, response)?;
        header(&response, "etag")
            .map(str::to_owned)
            .ok_or_else(|| S3Error::Parse("part answer without an ETag".into()))
    }

    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), S3Error> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let response = self
            .agent
            .post(url.as_str())
            .send(body.as_bytes())
            .map_err(transport)?;
        Client::check_late_error("COMPLETE-MULTIPART", key, response)?;
        Ok(())
    }

    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGNED_FOR);
        let response = self.agent.delete(url.as_str()).call().map_err(transport)?;
        Client::check("ABORT-MULTIPART", key, response).map(drop)
    }
}

/// A small XML answer, bounded: no store answer we read is anywhere near this.
fn read_body(response: &mut ureq::http::Response<ureq::Body>) -> Result<String, S3Error> {
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .take(16 * 1024 * 1024)
        .read_to_string(&mut body)
        .map_err(|e| S3Error::Transport(e.to_string()))?;
    Ok(body)
}

/// What `x-amz-copy-source` escapes of a key: everything but unreserved characters and `/`.
const KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
