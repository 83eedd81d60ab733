//! Where artifacts live: a local directory or an S3 bucket prefix, behind one
//! `object_store` interface so the pipeline never cares which.

use std::path::{Path as FsPath, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URI {uri:?}: use a local path, file:///absolute/path or s3://bucket/prefix")]
    UnsupportedUri { uri: String },
    #[error("invalid store URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("cannot create local store directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("options {keys:?} were given for local store {uri}; store options apply to s3:// stores only")]
    OptionsForLocalStore { uri: String, keys: Vec<String> },
    #[error("unknown S3 option {key:?} for {uri}: {source}")]
    UnknownS3Option {
        uri: String,
        key: String,
        source: Box<object_store::Error>,
    },
    #[error("cannot open store {uri}: {source}")]
    Open {
        uri: String,
        source: Box<object_store::Error>,
    },
    #[error("invalid object key {key:?} under {uri}: {source}")]
    InvalidKey {
        uri: String,
        key: String,
        source: object_store::path::Error,
    },
    #[error("{uri} not found")]
    NotFound { uri: String },
    #[error("{operation} {uri}: {source}")]
    Backend {
        operation: &'static str,
        uri: String,
        source: Box<object_store::Error>,
    },
}

impl StoreError {
    /// A malformed URI, key or option stays malformed; everything else the
    /// store says (network, throttling, an object not visible yet) may pass.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            StoreError::UnsupportedUri { .. }
                | StoreError::InvalidUri { .. }
                | StoreError::InvalidKey { .. }
                | StoreError::OptionsForLocalStore { .. }
                | StoreError::UnknownS3Option { .. }
        )
    }
}

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
        self.inner
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| self.backend("put", key, source))?;
        Ok(())
    }

    /// Writes `bytes` at `key` only if nothing is there yet: `true` if this
    /// call created the object, `false` if it already existed. Atomic on S3
    /// (`If-None-Match: *`) and on the local filesystem, so concurrent workers
    /// can use it to claim work.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(self.backend("conditional put", key, source)),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|source| self.backend("get", key, source))?;
        result
            .bytes()
            .await
            .map_err(|source| self.backend("get", key, source))
    }

    /// The object at `key` chunk by chunk, as the backend delivers it: a
    /// file of any size read without holding it.
    pub async fn get_chunks(&self, key: &str) -> Result<futures::stream::BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let path = self.path(key)?;
        let result = self.inner.get(&path).await.map_err(|source| self.backend("get", key, source))?;
        let uri = self.full_uri(key);
        Ok(Box::pin(result.into_stream().map_err(move |source| StoreError::Backend { operation: "get", uri: uri.clone(), source: Box::new(source) })))
    }

    /// The size in bytes of the object at `key`.
    pub async fn size(&self, key: &str) -> Result<u64, StoreError> {
        let path = self.path(key)?;
        Ok(self.inner.head(&path).await.map_err(|source| self.backend("head", key, source))?.size)
    }

    /// Bytes `range` of the object at `key`.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        self.inner.get_range(&path, range).await.map_err(|source| self.backend("get", key, source))
    }

    /// Keys under `prefix` that sort after `offset`, page by page (S3 starts
    /// listing there; other backends filter).
    pub async fn for_each_key_after(&self, prefix: &str, offset: &str, mut f: impl FnMut(&str)) -> Result<(), StoreError> {
        let full = if prefix.trim_matches('/').is_empty() { self.prefix.clone() } else { self.path(prefix)? };
        let offset_path = self.path(offset)?;
        let mut listed = self.inner.list_with_offset(Some(&full), &offset_path);
        while let Some(meta) = listed.try_next().await.map_err(|source| self.backend("list", prefix, source))? {
            if let Some(parts) = meta.location.prefix_match(&self.prefix) {
                let key = parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/");
                f(&key);
            }
        }
        Ok(())
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match self.inner.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.backend("head", key, source)),
        }
    }

    /// Removes the object at `key`; an absent object is not an error, so
    /// garbage collection can run twice.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.backend("delete", key, source)),
        }
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
        let full = if prefix.trim_matches('/').is_empty() {
            self.prefix.clone()
        } else {
            self.path(prefix)?
        };
        let mut listed = self.inner.list(Some(&full));
        while let Some(meta) = listed.try_next().await.map_err(|source| self.backend("list", prefix, source))? {
            if let Some(parts) = meta.location.prefix_match(&self.prefix) {
                let key = parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/");
                f(&key);
            }
        }
        Ok(())
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
