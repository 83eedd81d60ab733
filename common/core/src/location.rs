//! Where a path-like value of a job file points, parsed once: a local path
//! (relative ones resolved against a base directory) or an object-store URL
//! (`s3://bucket/key`, `file:///…`), which passes through untouched.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Url { scheme: String, url: String },
}

impl Location {
    /// `scheme://…` is a URL; anything else a local path.
    pub fn parse(text: &str) -> Location {
        match text.split_once("://") {
            Some((scheme, _)) => Location::Url { scheme: scheme.to_string(), url: text.to_string() },
            None => Location::Local(PathBuf::from(text)),
        }
    }

    /// A relative local path joined to `base` (and `.`/`..` folded out); an
    /// absolute path or a URL unchanged.
    pub fn resolved_against(&self, base: &Path) -> Location {
        match self {
            Location::Local(p) => Location::Local(resolve_path(base, p)),
            other => other.clone(),
        }
    }

    /// A local path that still needs a base directory to mean anything.
    pub fn is_relative(&self) -> bool {
        matches!(self, Location::Local(p) if p.is_relative())
    }

    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::Url { .. } => None,
        }
    }

    pub fn scheme(&self) -> Option<&str> {
        match self {
            Location::Url { scheme, .. } => Some(scheme),
            Location::Local(_) => None,
        }
    }

    /// As a store opens it: the URL, or the path.
    pub fn to_uri(&self) -> String {
        match self {
            Location::Local(p) => p.to_string_lossy().into_owned(),
            Location::Url { url, .. } => url.clone(),
        }
    }
}

/// A file's URI or path split into the store of its folder and its key
/// there: `s3://b/p/f.csv` → (`s3://b/p`, `f.csv`), `/data/f.csv` →
/// (`/data`, `f.csv`), `/f` → (`/`, `f`), `f.csv` → (`.`, `f.csv`).
pub fn split_file_uri(uri: &str) -> (String, String) {
    match uri.rsplit_once('/') {
        Some(("", name)) => ("/".to_string(), name.to_string()),
        Some((parent, name)) if !parent.ends_with(':') && !parent.ends_with('/') => (parent.to_string(), name.to_string()),
        _ => (".".to_string(), uri.to_string()),
    }
}

/// `p` joined to `base` when relative (and `.`/`..` folded out); an
/// absolute path unchanged.
pub fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_relative() {
        normalize_lexically(&base.join(p))
    } else {
        p.to_path_buf()
    }
}

/// Folds `.` and `name/..` out of a path without touching the filesystem, so
/// messages show `runs/demo` rather than `jobs/../runs/demo`.
fn normalize_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_split_into_their_folder_and_name() {
        assert_eq!(split_file_uri("s3://b/p/f.csv"), ("s3://b/p".to_string(), "f.csv".to_string()));
        assert_eq!(split_file_uri("/data/f.csv"), ("/data".to_string(), "f.csv".to_string()));
        assert_eq!(split_file_uri("/f"), ("/".to_string(), "f".to_string()));
        assert_eq!(split_file_uri("f.csv"), (".".to_string(), "f.csv".to_string()));
    }

    #[test]
    fn urls_pass_through_and_relative_paths_resolve_lexically() {
        let s3 = Location::parse("s3://bucket/prefix");
        assert_eq!(s3.scheme(), Some("s3"));
        assert_eq!(s3.resolved_against(Path::new("/jobs")), s3);
        let rel = Location::parse("../runs/./demo");
        assert!(rel.is_relative());
        assert_eq!(rel.resolved_against(Path::new("/work/jobs")), Location::Local(PathBuf::from("/work/runs/demo")));
        assert!(!Location::parse("/abs/out").is_relative());
        assert_eq!(Location::parse("/abs/out").to_uri(), "/abs/out");
    }
}
