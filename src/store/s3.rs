//! S3-compatible object storage (AWS S3, Garage, MinIO, ...) as a store,
//! through the `object_store` crate.
//!
//! The [`Store`] trait is synchronous and is called from many OS threads at
//! once, while `object_store` is async: each [`S3Store`] owns a small tokio
//! runtime and blocks on it. `Runtime::block_on` may be entered from any
//! number of threads concurrently; the futures run on the calling threads and
//! the runtime's workers drive the sockets and timers.
//!
//! A single PUT is atomic on S3: a blob is either absent or complete, which is
//! the visibility rule of the [`Store`] trait. Blobs are content-addressed, so
//! writes never need conditional PUTs (which some S3 servers, Garage among
//! them, silently ignore): writing the same key twice writes the same bytes.

use std::error::Error as _;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, GetOptions, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

use super::{Listed, Listing, S3Options, Store, StoreError, check_key};

/// How long the retries of one request may go on. A node that restarts is
/// back within a few seconds; a cluster that has lost its quorum (or is down)
/// must fail the push well within half a minute, with an error that says so,
/// rather than hang.
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);
/// At most this many retries of one request (5xx, 429, refused connections,
/// timeouts of idempotent requests). The backoff (jittered, 250 ms doubling
/// up to 5 s) adds up to between 2 and 23 s of waiting, cut short by
/// [`RETRY_TIMEOUT`]; measured against a dead or quorum-less Garage, a
/// request gives up after 3 to 5 s.
const MAX_RETRIES: usize = 8;
/// Per-attempt limit for a whole request, body included. Generous because a
/// single PUT carries a whole blob over what may be a slow link abroad; a
/// server that accepts connections but never answers is the only case it
/// bounds. `AWS_TIMEOUT` overrides it.
const REQUEST_TIMEOUT: &str = "120s";
/// Connection set-up limit: a dead host (as opposed to a refused port) is
/// noticed quickly and retried. `AWS_CONNECT_TIMEOUT` overrides it.
const CONNECT_TIMEOUT: &str = "5s";

/// A store in an S3 bucket, under an optional key prefix.
///
/// Its methods block on the store's own runtime: call them from ordinary
/// threads, not from inside an async runtime (tokio refuses to nest them).
pub struct S3Store {
    /// `s3://bucket/prefix`, for messages.
    name: String,
    /// The bucket, for messages.
    bucket: String,
    /// The key prefix (no leading or trailing `/`); empty for the bucket root.
    prefix: String,
    /// The endpoint requests go to, for messages.
    endpoint: String,
    client: AmazonS3,
    runtime: tokio::runtime::Runtime,
    /// Set once the bucket is known to exist. S3 answers 404 both for a
    /// missing blob and for a missing bucket, and a HEAD's 404 has no body to
    /// tell them apart; a missing bucket must not read as "blob absent" (a
    /// push would then try to upload everything and fail confusingly).
    bucket_exists: AtomicBool,
}

impl S3Store {
    /// Opens `s3://BUCKET[/PREFIX]`, given `rest` = `BUCKET` or
    /// `BUCKET/PREFIX`. Endpoint and region come from `opts` if set, else from
    /// the standard environment variables (`AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT`, `AWS_REGION` or `AWS_DEFAULT_REGION`); credentials come
    /// from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with an optional
    /// `AWS_SESSION_TOKEN`), or a web-identity or container credential set-up.
    ///
    /// Nothing is sent to the server yet: a wrong endpoint or key shows on the
    /// first request.
    pub fn open(rest: &str, opts: &S3Options) -> Result<Self, StoreError> {
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (rest, ""),
        };
        let name = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let fail = |message: String| StoreError::Backend {
            store: name.clone(),
            message,
        };

        if bucket.is_empty() {
            return Err(fail("no bucket name (expected s3://BUCKET/PREFIX)".into()));
        }
        // The bucket becomes part of the URL path: refuse anything that is not
        // a plain bucket name rather than build a surprising URL.
        if !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
        {
            return Err(fail(format!("'{bucket}' is not a valid bucket name")));
        }
        if !prefix.is_empty()
            && (Path::parse(prefix).is_err() || prefix.split('/').any(|c| c == "." || c == ".."))
        {
            return Err(fail(format!(
                "'{prefix}' is not a valid key prefix (empty, '.' or '..' components, or control characters)"
            )));
        }

        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &opts.endpoint {
            // Set both: `AWS_ENDPOINT_URL_S3` from the environment would
            // otherwise take precedence over the flag.
            builder = builder
                .with_endpoint(endpoint)
                .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
        }
        if let Some(region) = &opts.region {
            builder = builder.with_region(region);
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
            .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
        match &endpoint {
            Some(ep) => {
                let lower = ep.to_ascii_lowercase();
                let http = lower.starts_with("http://");
                if !http && !lower.starts_with("https://") {
                    return Err(fail(format!(
                        "S3 endpoint '{ep}' must start with https:// (or http://)"
                    )));
                }
                // Plain HTTP only when asked for by name (a loopback test
                // cluster, a TLS-terminating tunnel); never as a fallback, and
                // regardless of AWS_ALLOW_HTTP. Path-style requests because
                // S3-compatible servers rarely have per-bucket host names.
                builder = builder
                    .with_allow_http(http)
                    .with_virtual_hosted_style_request(false);
            }
            None => builder = builder.with_allow_http(false),
        }

        // Without explicit credentials `object_store` falls back to the EC2
        // instance metadata service, which elsewhere means a long wait for a
        // confusing error. Say what is missing instead.
        let key_id = builder.get_config_value(&AmazonS3ConfigKey::AccessKeyId);
        let secret = builder.get_config_value(&AmazonS3ConfigKey::SecretAccessKey);
        let other_credentials = (builder
            .get_config_value(&AmazonS3ConfigKey::WebIdentityTokenFile)
            .is_some()
            && builder
                .get_config_value(&AmazonS3ConfigKey::RoleArn)
                .is_some())
            || builder
                .get_config_value(&AmazonS3ConfigKey::ContainerCredentialsRelativeUri)
                .is_some()
            || builder
                .get_config_value(&AmazonS3ConfigKey::ContainerCredentialsFullUri)
                .is_some();
        match (key_id.is_some(), secret.is_some()) {
            (true, true) => {}
            (false, false) if other_credentials => {}
            (false, false) => {
                return Err(fail(
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (~/.aws profiles are not read)"
                        .into(),
                ));
            }
            (true, false) => {
                return Err(fail(
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
                ));
            }
            (false, true) => {
                return Err(fail(
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
                ));
            }
        }

        // Set the client options key by key: `with_client_options` would
        // replace the ones just read from the environment (proxy, ...).
        if std::env::var_os("AWS_TIMEOUT").is_none() {
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                REQUEST_TIMEOUT,
            );
        }
        if std::env::var_os("AWS_CONNECT_TIMEOUT").is_none() {
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                CONNECT_TIMEOUT,
            );
        }
        // One key at a time: a plain DELETE, whose status says what
        // happened, rather than the bulk DeleteObjects API (per-key results in
        // an XML body), which some S3-compatible servers do not implement.
        builder = builder.with_disable_bulk_delete(true);
        builder = builder.with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            // The workers only drive sockets and timers; the callers' threads
            // run the futures (block_on), so two are plenty.
            .worker_threads(2)
            .thread_name("seif-s3")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the S3 client's runtime: {e}")))?;
        let builder_region = builder.get_config_value(&AmazonS3ConfigKey::Region);
        // The HTTP client may look for a runtime while it is built.
        let client = {
            let _guard = runtime.enter();
            builder
                .build()
                .map_err(|e| fail(format!("bad S3 configuration: {e}")))?
        };
        let endpoint = endpoint.unwrap_or_else(|| {
            let region = builder_region.unwrap_or_else(|| "us-east-1".into());
            format!("https://s3.{region}.amazonaws.com")
        });
        Ok(S3Store {
            name,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint,
            client,
            runtime,
            bucket_exists: AtomicBool::new(false),
        })
    }

    /// The object path of a store key.
    fn path(&self, key: &str) -> Result<Path, StoreError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        // check_key already allows only [a-z0-9._-] components; this cannot
        // fail, but an error beats a panic if the rules ever drift apart.
        Path::parse(&full).map_err(|_| StoreError::BadKey(key.into()))
    }

    /// The error for a 404: the blob is missing, unless the whole bucket is.
    fn not_found(&self, key: &str) -> StoreError {
        if self.bucket_missing() {
            StoreError::Backend {
                store: self.name.clone(),
                message: format!(
                    "bucket '{}' does not exist at {} (or the key may not see it)",
                    self.bucket, self.endpoint
                ),
            }
        } else {
            StoreError::NotFound {
                store: self.name.clone(),
                key: key.into(),
            }
        }
    }

    /// Whether the bucket is known to be missing. Asks the server (a one-key
    /// listing, which names a missing bucket with its own 404) until the
    /// bucket has been seen once.
    fn too_large(&self, key: &str, size: u64, limit: u64) -> StoreError {
        StoreError::TooLarge {
            store: self.name.clone(),
            key: key.into(),
            size,
            limit,
        }
    }

    fn bucket_missing(&self) -> bool {
        if self.bucket_exists.load(Ordering::Relaxed) {
            return false;
        }
        let options = PaginatedListOptions {
            max_keys: Some(1),
            ..Default::default()
        };
        let prefix = (!self.prefix.is_empty()).then(|| format!("{}/", self.prefix));
        match self
            .runtime
            .block_on(self.client.list_paginated(prefix.as_deref(), options))
        {
            Ok(_) => {
                self.bucket_exists.store(true, Ordering::Relaxed);
                false
            }
            Err(object_store::Error::NotFound { .. }) => true,
            // object_store reports a listing's 404 as a generic error; the
            // status is only in its text.
            Err(e) => {
                let text = e.to_string();
                // Otherwise (server trouble) we cannot tell: keep the 404's
                // plain meaning.
                text.contains("NoSuchBucket") || text.contains("404 Not Found")
            }
        }
    }

    /// Maps an `object_store` error to a [`StoreError`] that names the store,
    /// the operation and, where it can tell, the likely cause.
    fn error(&self, op: &str, key: &str, e: object_store::Error) -> StoreError {
        use object_store::Error as E;
        let text = e.to_string();
        let denied = || {
            format!(
                "access denied by {}{}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the region, and the key's rights on the bucket",
                self.endpoint,
                s3_error_body(&text).map_or(String::new(), |b| format!(" ({b})"))
            )
        };
        let cause = match &e {
            E::NotFound { .. } => return self.not_found(key),
            E::Unauthenticated { .. } | E::PermissionDenied { .. } => {
                return StoreError::Denied {
                    store: self.name.clone(),
                    message: format!("{op} {key}: {}", denied()),
                };
            }
            // object_store reports a 403 on a listing as a generic error;
            // the status and S3's own code are only in its text.
            _ if text.contains("403 Forbidden")
                || [
                    "AccessDenied",
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                ]
                .iter()
                .any(|c| text.contains(&format!("<Code>{c}</Code>"))) =>
            {
                return StoreError::Denied {
                    store: self.name.clone(),
                    message: format!("{op} {key}: {}", denied()),
                };
            }
            // A listing's 404 is not mapped to NotFound by object_store, but
            // S3 names the cause in the body.
            _ if e.to_string().contains("NoSuchBucket") => format!(
                "bucket '{}' does not exist at {}",
                self.bucket, self.endpoint
            ),
            _ => match transport_failure(&e) {
                Some(object_store::client::HttpErrorKind::Connect) => format!(
                    "cannot connect to {}, even after retrying: is the S3 service running?",
                    self.endpoint
                ),
                Some(object_store::client::HttpErrorKind::Timeout) => {
                    format!("{} did not answer in time", self.endpoint)
                }
                // The status code is not exposed by object_store's error
                // types, only in its message ("status code: 503 ...").
                _ if e.to_string().contains("status code: 5") => format!(
                    "the S3 service at {} is unavailable: it answered with server errors, even after retrying (a Garage cluster that lost its quorum answers 503)",
                    self.endpoint
                ),
                _ => "request failed".into(),
            },
        };
        StoreError::Backend {
            store: self.name.clone(),
            message: format!("{op} {key}: {cause}: {}", without_xml(&text)),
        }
    }
}

/// S3's own words from an XML error body in `text`: "Code: Message".
fn s3_error_body(text: &str) -> Option<String> {
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + len].to_owned())
    };
    match (field("Code"), field("Message")) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// `text` with an XML error body replaced by S3's code and message: a
/// message for a person, not a document (and no markup from a server).
fn without_xml(text: &str) -> String {
    match text.find("<?xml") {
        Some(at) => format!(
            "{}{}",
            &text[..at],
            s3_error_body(&text[at..]).unwrap_or_else(|| "(an XML error document)".into())
        ),
        None => text.to_owned(),
    }
}

/// The kind of the transport failure (refused connection, timeout, ...)
/// behind an error, if any.
fn transport_failure(e: &object_store::Error) -> Option<object_store::client::HttpErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = current {
        if let Some(http) = err.downcast_ref::<object_store::client::HttpError>() {
            return Some(http.kind());
        }
        current = err.source();
    }
    None
}

impl Store for S3Store {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        // A plain PUT (no If-None-Match): keys are content hashes, so
        // overwriting writes the same bytes, and SigV4's signed payload hash
        // lets the server reject a body damaged in transit.
        let payload = PutPayload::from(data.to_vec());
        self.runtime
            .block_on(self.client.put(&path, payload))
            .map(|_| ())
            .map_err(|e| self.error("put", key, e))
    }

    fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        // The size is known from the response headers before the body is
        // read: a blob larger than the format allows is refused unread.
        let got = self
            .runtime
            .block_on(async {
                let result = self.client.get(&path).await?;
                if result.meta.size > limit {
                    return Ok(Err(result.meta.size));
                }
                result.bytes().await.map(Ok)
            })
            .map_err(|e| self.error("get", key, e))?;
        match got {
            Ok(bytes) if bytes.len() as u64 <= limit => Ok(bytes.into()),
            Ok(bytes) => Err(self.too_large(key, bytes.len() as u64, limit)),
            Err(size) => Err(self.too_large(key, size, limit)),
        }
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        let beyond = |len: u64| StoreError::Backend {
            store: self.name.clone(),
            message: format!("{key}: range {range:?} is beyond its {len} bytes"),
        };
        if range.start > range.end {
            return Err(StoreError::Backend {
                store: self.name.clone(),
                message: format!("{key}: range {range:?} is backwards"),
            });
        }
        if range.start == range.end {
            // HTTP cannot express an empty range; check the blob exists and
            // the range is within it, as the local store does.
            return match self.size(key)? {
                None => Err(StoreError::NotFound {
                    store: self.name.clone(),
                    key: key.into(),
                }),
                Some(len) if range.end > len => Err(beyond(len)),
                Some(_) => Ok(Vec::new()),
            };
        }
        let options = GetOptions::new().with_range(Some(range.clone()));
        let (size, bytes) = self
            .runtime
            .block_on(async {
                let result = self.client.get_opts(&path, options).await?;
                let size = result.meta.size;
                Ok((size, result.bytes().await?))
            })
            .map_err(|e| match e {
                // A start at or past the end: S3 answers 416 ("Range Not
                // Satisfiable"; only the text has the status).
                object_store::Error::Generic { .. }
                    if e.to_string().contains("Range Not Satisfiable") =>
                {
                    StoreError::Backend {
                        store: self.name.clone(),
                        message: format!("{key}: range {range:?} is beyond its end: {e}"),
                    }
                }
                e => self.error("get_range", key, e),
            })?;
        // S3 (and object_store) clamp a range that runs past the end to the
        // bytes that exist; callers asked for exact bytes, so that is an error.
        if range.end > size {
            return Err(beyond(size));
        }
        let len = range.end - range.start;
        if bytes.len() as u64 != len {
            return Err(StoreError::Backend {
                store: self.name.clone(),
                message: format!(
                    "{key}: asked for {len} bytes at {}, got {}",
                    range.start,
                    bytes.len()
                ),
            });
        }
        Ok(bytes.into())
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match self.runtime.block_on(self.client.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => match self.not_found(key) {
                StoreError::NotFound { .. } => Ok(None),
                e => Err(e),
            },
            Err(e) => Err(self.error("size", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Listing, StoreError> {
        let base = prefix.trim_end_matches('/');
        check_key(base)?;
        // Object names under the store's prefix start with this; what follows
        // is the store key.
        let root = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        // The trailing '/' keeps "objects" from also matching "objects2/...".
        let query = format!("{root}{base}/");
        let mut out = Listing::default();
        let mut page_token: Option<String> = None;
        loop {
            let options = PaginatedListOptions {
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = self
                .runtime
                .block_on(self.client.list_paginated(Some(&query), options))
                .map_err(|e| self.error("list", prefix, e))?;
            for meta in page.result.objects {
                let name = meta.location.as_ref();
                if let Some(key) = name.strip_prefix(&root) {
                    out.blobs.push(Listed {
                        key: key.to_owned(),
                        size: meta.size,
                        arrived: Some(meta.last_modified.timestamp()),
                    });
                }
            }
            match page.page_token {
                // A server handing back the same token would loop forever.
                Some(next) if page_token.as_deref() == Some(next.as_str()) => {
                    return Err(StoreError::Backend {
                        store: self.name.clone(),
                        message: format!("list {prefix}: the server repeated a page token"),
                    });
                }
                Some(next) => page_token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        // S3 deletes are idempotent: deleting a missing blob succeeds.
        self.runtime
            .block_on(self.client.delete(&path))
            .map_err(|e| self.error("delete", key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GARAGE_403: &str = "Generic S3 error: Error performing list request: Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Forbidden: Invalid signature</Message><Resource>/seif-test</Resource></Error>";

    #[test]
    fn an_xml_error_body_becomes_s3s_code_and_message() {
        assert_eq!(
            s3_error_body(GARAGE_403).as_deref(),
            Some("AccessDenied: Forbidden: Invalid signature")
        );
        let shown = without_xml(GARAGE_403);
        assert!(!shown.contains('<'), "{shown}");
        assert!(
            shown.ends_with("403 Forbidden: AccessDenied: Forbidden: Invalid signature"),
            "{shown}"
        );
        assert_eq!(without_xml("connection refused"), "connection refused");
        assert_eq!(s3_error_body("no body here"), None);
    }
}
