//! Where artifacts live: a local directory or an S3 bucket prefix, behind one
//! `object_store` interface so the pipeline never cares which.

use std::path::{Path as FsPath, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::error::StoreError;
use crate::retry::{Retry, StoreSettings};

/// An object store plus a base prefix; keys are `/`-separated paths below it.
/// Cheap to clone (the backend is shared).
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    uri: String,
    /// For local stores, the directory the backend is rooted at.
    local_root: Option<PathBuf>,
}

impl Store {
    /// Opens a plain path or `file:///abs/path` (directory created if missing)
    /// or `s3://bucket/prefix` (configured from the standard AWS environment
    /// variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION /
    /// AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ...).
    pub fn open(uri: &str) -> Result<Store, StoreError> {
        Store::open_with_options(uri, &[])
    }

    /// Like [`Store::open`], with S3 options (object_store `AmazonS3ConfigKey`
    /// names such as `aws_endpoint`, `aws_access_key_id`, `aws_region`) that
    /// override the environment. Plain-HTTP endpoints (`http://...`) are allowed.
    pub fn open_with_options(uri: &str, options: &[(&str, &str)]) -> Result<Store, StoreError> {
        let uri = uri.trim_end_matches('/');
        if uri.is_empty() {
            return Err(StoreError::InvalidUri {
                uri: uri.to_string(),
                reason: "empty".to_string(),
            });
        }
        match uri.split_once("://") {
            Some(("s3", _)) => open_s3(uri, options),
            Some(("file", _)) => {
                let url = url::Url::parse(uri).map_err(|e| StoreError::InvalidUri {
                    uri: uri.to_string(),
                    reason: e.to_string(),
                })?;
                let dir = url.to_file_path().map_err(|()| StoreError::InvalidUri {
                    uri: uri.to_string(),
                    reason: "file:// URIs need an absolute path (file:///abs/path)".to_string(),
                })?;
                open_local(uri, &dir, options)
            }
            Some(_) => Err(StoreError::UnsupportedUri {
                uri: uri.to_string(),
            }),
            None => open_local(uri, FsPath::new(uri), options),
        }
    }

    /// The URI this store was opened with (plus any `child` sub-prefixes).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The store rooted at `sub` below this one. An unusable `sub` (empty
    /// segments, `..`) is dropped segment by segment rather than escaping the prefix.
    pub fn child(&self, sub: &str) -> Store {
        let mut prefix = self.prefix.clone();
        let mut uri = self.uri.clone();
        for segment in sub
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        {
            prefix = prefix.clone().join(segment);
            uri.push('/');
            uri.push_str(segment);
        }
        Store {
            inner: self.inner.clone(),
            prefix,
            uri,
            local_root: self.local_root.clone(),
        }
    }

    /// The full URI of `key`, for messages.
    pub fn full_uri(&self, key: &str) -> String {
        format!("{}/{}", self.uri, key.trim_start_matches('/'))
    }

    /// Writes `bytes` at `key`, replacing any existing object.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.retrying("put", |_| async {
            self.inner
                .put(&path, PutPayload::from(bytes.clone()))
                .await
                .map_err(|source| self.backend("put", key, source))?;
            Ok(())
        })
        .await
    }

    /// Writes the local file `file` at `key`, read and sent in parts so a
    /// file larger than memory goes up whole; a failed try starts again
    /// from the file's start (parts are not kept across tries).
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<(), StoreError> {
        use object_store::WriteMultipart;
        use tokio::io::AsyncReadExt;
        const PART: usize = 8 << 20;
        let path = self.path(key)?;
        let io = |e: std::io::Error| StoreError::Backend { operation: "put", uri: self.full_uri(key), source: Box::new(object_store::Error::Generic { store: "local file", source: format!("{}: {e}", file.display()).into() }) };
        self.retrying("put", |_| async {
            let mut from = tokio::fs::File::open(file).await.map_err(io)?;
            let upload = self.inner.put_multipart(&path).await.map_err(|source| self.backend("put", key, source))?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; PART];
            loop {
                let n = from.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                parts.wait_for_capacity(2).await.map_err(|source| self.backend("put", key, source))?;
                parts.write(&buf[..n]);
            }
            parts.finish().await.map_err(|source| self.backend("put", key, source))?;
            Ok(())
        })
        .await
    }

    /// Writes `bytes` at `key` only if nothing is there yet: `true` if this
    /// call created the object, `false` if it already existed. Atomic on S3
    /// (`If-None-Match: *`) and on the local filesystem, so concurrent workers
    /// can use it to claim work.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        // After a try whose answer was lost, "already there" may be that
        // try's own object: the caller reads what is there and sees whose
        // it is (a commit recognises its own manifest).
        self.retrying("conditional put", |_| async {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match self
                .inner
                .put_opts(&path, PutPayload::from(bytes.clone()), options)
                .await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                Err(source) => Err(self.backend("conditional put", key, source)),
            }
        })
        .await
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        self.retrying("get", |_| async {
            let result = self
                .inner
                .get(&path)
                .await
                .map_err(|source| self.backend("get", key, source))?;
            result
                .bytes()
                .await
                .map_err(|source| self.backend("get", key, source))
        })
        .await
    }

    /// The object at `key` chunk by chunk, as the backend delivers it: a
    /// file of any size read without holding it.
    ///
    /// A connection lost mid-body is resumed where it broke (a ranged read
    /// of the rest), within the same retry deadline as any call.
    pub async fn get_chunks(&self, key: &str) -> Result<futures::stream::BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let size = self.size(key).await?;
        let state = ChunkReader { store: self.clone(), key: key.to_string(), at: 0, size, body: None, retry: None };
        Ok(Box::pin(futures::stream::unfold(state, |mut s| async move { s.next().await.map(|item| (item, s)) })))
    }

    /// The size in bytes of the object at `key`.
    pub async fn size(&self, key: &str) -> Result<u64, StoreError> {
        let path = self.path(key)?;
        self.retrying("head", |_| async { Ok(self.inner.head(&path).await.map_err(|source| self.backend("head", key, source))?.size) }).await
    }

    /// Bytes `range` of the object at `key`.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        self.retrying("get", |_| async { self.inner.get_range(&path, range.clone()).await.map_err(|source| self.backend("get", key, source)) }).await
    }

    /// Keys under `prefix` that sort after `offset`, page by page (S3 starts
    /// listing there; other backends filter).
    pub async fn for_each_key_after(&self, prefix: &str, offset: &str, mut f: impl FnMut(&str)) -> Result<(), StoreError> {
        let after = self.path(offset)?;
        self.list_after(prefix, Some(after), &mut f).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        self.retrying("head", |_| async {
            match self.inner.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(source) => Err(self.backend("head", key, source)),
            }
        })
        .await
    }

    /// Removes the object at `key`; an absent object is not an error, so
    /// garbage collection can run twice.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.retrying("delete", |_| async {
            match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(source) => Err(self.backend("delete", key, source)),
            }
        })
        .await
    }

    /// Keys (relative to this store) of all objects under `prefix` (whole
    /// path segments; "" lists everything), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        self.for_each_key(prefix, |key| keys.push(key.to_string())).await?;
        keys.sort();
        Ok(keys)
    }

    /// Calls `f` with the key (relative to this store) of every object under
    /// `prefix`, page by page as the backend lists them, holding no list.
    pub async fn for_each_key(&self, prefix: &str, mut f: impl FnMut(&str)) -> Result<(), StoreError> {
        self.list_after(prefix, None, &mut f).await
    }

    /// Lists `prefix` after `after` (from its start when `None`); a broken
    /// listing goes on after the last key it gave, so `f` sees each key once.
    async fn list_after<F: FnMut(&str)>(&self, prefix: &str, after: Option<Path>, f: &mut F) -> Result<(), StoreError> {
        let full = if prefix.trim_matches('/').is_empty() {
            self.prefix.clone()
        } else {
            self.path(prefix)?
        };
        let mut last = after;
        // A deadline per stretch without progress, as streamed reads have:
        // a listing of millions of keys may meet many short outages.
        let mut retry: Option<Retry> = None;
        'listing: loop {
            let mut listed = match last.as_ref() {
                Some(after) => self.inner.list_with_offset(Some(&full), after),
                None => self.inner.list(Some(&full)),
            };
            loop {
                match listed.try_next().await {
                    Ok(Some(meta)) => {
                        if let Some(parts) = meta.location.prefix_match(&self.prefix) {
                            let key = parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/");
                            f(&key);
                        }
                        last = Some(meta.location);
                        retry = None;
                    }
                    Ok(None) => return Ok(()),
                    Err(source) => {
                        let e = self.backend("list", prefix, source);
                        if self.local_root.is_some() {
                            return Err(e);
                        }
                        retry.get_or_insert_with(|| Retry::new("list", StoreSettings::current())).after(e).await?;
                        continue 'listing;
                    }
                }
            }
        }
    }

    /// Where `key` is on disk, for local stores (for printing where things are).
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        let mut path = root.clone();
        path.extend(self.prefix.parts().map(|p| p.as_ref().to_string()));
        path.extend(key.split('/').filter(|s| !s.is_empty()));
        Some(path)
    }

    fn path(&self, key: &str) -> Result<Path, StoreError> {
        let relative =
            Path::parse(key.trim_start_matches('/')).map_err(|source| StoreError::InvalidKey {
                uri: self.uri.clone(),
                key: key.to_string(),
                source,
            })?;
        if relative.parts().count() == 0 {
            return Err(StoreError::InvalidUri {
                uri: self.full_uri(key),
                reason: "object key is empty".to_string(),
            });
        }
        Ok(self.prefix.parts().chain(relative.parts()).collect())
    }

    /// `call` retried through transient failures on S3 (timeouts,
    /// throttling, resets: [`super::store_retry`]); a local directory's
    /// errors are its file system's and reach the caller at once.
    async fn retrying<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T, StoreError>
    where
        F: FnMut(bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut call = call;
        if self.local_root.is_some() {
            return call(false).await;
        }
        crate::retry::retrying(operation, StoreSettings::current(), call).await
    }

    fn backend(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StoreError {
        let uri = self.full_uri(key);
        match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound { uri },
            source => StoreError::Backend {
                operation,
                uri,
                source: Box::new(source),
            },
        }
    }
}

/// The state of [`Store::get_chunks`]: where the next byte is and the body
/// being read (reopened from `at` after a break).
struct ChunkReader {
    store: Store,
    key: String,
    at: u64,
    size: u64,
    body: Option<futures::stream::BoxStream<'static, object_store::Result<Bytes>>>,
    /// Retries since the body last delivered bytes.
    retry: Option<Retry>,
}

impl ChunkReader {
    async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        loop {
            if self.at >= self.size {
                return None;
            }
            let body = match self.body.as_mut() {
                Some(body) => body,
                None => {
                    let path = match self.store.path(&self.key) {
                        Ok(p) => p,
                        Err(e) => return Some(Err(e)),
                    };
                    let (store, key, range) = (&self.store, self.key.as_str(), self.at..self.size);
                    let opened = store
                        .retrying("get", |_| async {
                            let options = object_store::GetOptions { range: Some(range.clone().into()), ..Default::default() };
                            store.inner.get_opts(&path, options).await.map_err(|source| store.backend("get", key, source))
                        })
                        .await;
                    match opened {
                        Ok(result) => self.body.insert(result.into_stream()),
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            let broke = match body.next().await {
                Some(Ok(bytes)) => {
                    self.at += bytes.len() as u64;
                    self.retry = None;
                    return Some(Ok(bytes));
                }
                Some(Err(source)) => self.store.backend("get", &self.key, source),
                None => StoreError::BodyEndedEarly { uri: self.store.full_uri(&self.key), at: self.at, size: self.size },
            };
            self.body = None;
            if self.store.local_root.is_some() {
                return Some(Err(broke));
            }
            let retry = self.retry.get_or_insert_with(|| Retry::new("get", StoreSettings::current()));
            if let Err(e) = retry.after(broke).await {
                return Some(Err(e));
            }
        }
    }
}

fn open_local(uri: &str, dir: &FsPath, options: &[(&str, &str)]) -> Result<Store, StoreError> {
    if !options.is_empty() {
        return Err(StoreError::OptionsForLocalStore {
            uri: uri.to_string(),
            keys: options.iter().map(|(k, _)| k.to_string()).collect(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let root = std::fs::canonicalize(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let local = LocalFileSystem::new_with_prefix(&root).map_err(|source| StoreError::Open {
        uri: uri.to_string(),
        source: Box::new(source),
    })?;
    Ok(Store {
        inner: Arc::new(local),
        prefix: Path::default(),
        uri: uri.to_string(),
        local_root: Some(root),
    })
}

fn open_s3(uri: &str, options: &[(&str, &str)]) -> Result<Store, StoreError> {
    let url = url::Url::parse(uri).map_err(|e| StoreError::InvalidUri {
        uri: uri.to_string(),
        reason: e.to_string(),
    })?;
    let bucket =
        url.host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| StoreError::InvalidUri {
                uri: uri.to_string(),
                reason: "no bucket (expected s3://bucket/prefix)".to_string(),
            })?;
    let prefix = Path::parse(url.path().trim_matches('/')).map_err(|e| StoreError::InvalidUri {
        uri: uri.to_string(),
        reason: e.to_string(),
    })?;

    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in options {
        let config_key =
            AmazonS3ConfigKey::from_str(key).map_err(|source| StoreError::UnknownS3Option {
                uri: uri.to_string(),
                key: key.to_string(),
                source: Box::new(source),
            })?;
        builder = builder.with_config(config_key, *value);
    }
    // Local S3 servers (moto, MinIO) speak plain HTTP; only allow it when the
    // endpoint explicitly asks for it.
    if builder
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .is_some_and(|e| e.starts_with("http://"))
    {
        builder = builder.with_allow_http(true);
    }
    // Every retry is rwclip's own (counted, jittered, with a deadline that
    // outlasts an outage); object_store only times each request out.
    let settings = StoreSettings::current();
    let seconds = |d: std::time::Duration| format!("{}ms", d.as_millis().max(1));
    builder = builder
        .with_retry(RetryConfig { max_retries: 0, retry_timeout: settings.retry_for, ..RetryConfig::default() })
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), seconds(settings.timeout))
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), seconds(settings.connect_timeout));
    let s3 = builder.build().map_err(|source| StoreError::Open {
        uri: uri.to_string(),
        source: Box::new(source),
    })?;
    Ok(Store {
        inner: Arc::new(s3),
        prefix,
        uri: uri.to_string(),
        local_root: None,
    })
}
