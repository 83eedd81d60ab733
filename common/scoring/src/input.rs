//! A scoring job's input cut into row ranges without holding its rows.
//!
//! A CSV manifest is read once as a stream; every `rows_per_shard` records
//! the byte offset is noted, so a shard is a byte range a worker fetches on
//! its own. A folder or `s3://` prefix is listed once; a shard is a range of
//! keys (after one key, up to another). Each range carries a digest of what
//! it covers, so a changed archive gets new shard ids and an unchanged one
//! is never scored twice.

use futures::StreamExt;

use rwclip_core::hash::fnv1a_128;
use rwclip_core::media::{is_scored_file, is_video_file};
use rwclip_plan::pipe_span::SpanColumns;
use rwclip_store::Store;

pub use crate::input_error::InputError;
use crate::input_error::store_error;
pub use crate::parquet_split::{parquet_uris, split_parquet};
use crate::sniff::worth_sniffing;
pub use crate::video_cut::VideoCut;
use crate::video_cut::{plan_pieces, NamedVideo, Piece};
pub use rwclip_plan::score_input::{InputRange, InputShard};

/// Splits a byte stream into CSV records: a record ends at a newline outside
/// quotes. Feeding the same bytes in any chunking gives the same records.
#[derive(Debug, Default)]
pub struct RecordScanner {
    in_quotes: bool,
    /// Bytes since the last record end.
    pending: u64,
}

impl RecordScanner {
    /// Offsets (within `chunk`) just after each record end in `chunk`.
    pub fn feed(&mut self, chunk: &[u8], mut on_end: impl FnMut(usize)) {
        for (i, &b) in chunk.iter().enumerate() {
            self.pending += 1;
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    on_end(i + 1);
                    self.pending = 0;
                }
                _ => {}
            }
        }
    }

    /// Whether bytes after the last newline form one more record.
    pub fn has_tail(&self) -> bool {
        self.pending > 0
    }

    pub fn in_quotes(&self) -> bool {
        self.in_quotes
    }
}

/// The fields of one record (no trailing newline): quotes removed, `""`
/// unescaped, a trailing `\r` dropped.
pub fn record_fields(record: &str) -> Vec<String> {
    let record = record.strip_suffix('\n').unwrap_or(record);
    let record = record.strip_suffix('\r').unwrap_or(record);
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = record.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Whether a record holds nothing (blank lines are not rows).
pub fn is_blank(record: &str) -> bool {
    record.trim().is_empty()
}

/// Cuts the CSV manifest `file` of `store` (the manifest's folder) into
/// shards of `rows_per_shard` rows, streaming it once, and each video it
/// names into shards of sampled frames; `on_shard` gets each shard in
/// order. Returns the number of rows.
pub async fn split_csv(store: &Store, file: &str, rows_per_shard: u64, max_shards: u64, videos: VideoCut, on_shard: impl FnMut(InputShard)) -> Result<u64, InputError> {
    let mut chunks = store.get_chunks(file).await.map_err(store_error(store, file))?;
    let mut pieces = Vec::new();
    let mut splitter = CsvSplitter {
        folder: store.uri().to_string(),
        file: file.to_string(),
        uri: store.full_uri(file),
        max_shards,
        scanner: RecordScanner::default(),
        record: Vec::new(),
        offset: 0,
        line: 0,
        columns: None,
        shards: 0,
        shard: ShardBuilder::new(rows_per_shard),
        on_piece: |p| pieces.push(p),
    };
    while let Some(chunk) = chunks.next().await {
        splitter.feed(&chunk.map_err(|source| InputError::Store { uri: store.full_uri(file), source })?)?;
    }
    splitter.finish()?;
    plan_pieces(store, pieces, videos, max_shards, rows_per_shard, on_shard).await
}

/// The header's columns a split reads.
#[derive(Debug, Clone, Copy)]
struct ManifestColumns {
    uri: usize,
    spans: SpanColumns,
}

/// The state of one pass over a CSV manifest: the record being read, the
/// header's columns once known, and the shard being filled.
struct CsvSplitter<F: FnMut(Piece)> {
    folder: String,
    file: String,
    uri: String,
    max_shards: u64,
    scanner: RecordScanner,
    /// Bytes of the record not ended yet (it may span chunks).
    record: Vec<u8>,
    /// Bytes of the file before the current chunk.
    offset: u64,
    line: u64,
    columns: Option<ManifestColumns>,
    shards: u64,
    shard: ShardBuilder,
    on_piece: F,
}

impl<F: FnMut(Piece)> CsvSplitter<F> {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), InputError> {
        let mut ends = Vec::new();
        self.scanner.feed(chunk, |end| ends.push(end));
        let mut from = 0;
        for end in ends {
            self.record.extend_from_slice(&chunk[from..end]);
            let record = std::mem::take(&mut self.record);
            self.on_record(&record, self.offset + end as u64)?;
            from = end;
        }
        self.record.extend_from_slice(&chunk[from..]);
        self.offset += chunk.len() as u64;
        Ok(())
    }

    fn on_record(&mut self, bytes: &[u8], end: u64) -> Result<(), InputError> {
        self.line += 1;
        let text = String::from_utf8_lossy(bytes);
        let Some(columns) = self.columns else {
            let names = record_fields(text.trim_start_matches('\u{feff}'));
            let uri = names.iter().position(|c| c.trim() == "uri").ok_or_else(|| InputError::NoUriColumn { file: self.uri.clone(), columns: names.join(", ") })?;
            let spans = SpanColumns::from_header(&names).map_err(|problem| InputError::Manifest { file: self.uri.clone(), line: self.line, problem })?;
            self.columns = Some(ManifestColumns { uri, spans });
            self.shard.start(end, self.line + 1);
            return Ok(());
        };
        if is_blank(&text) {
            self.shard.skip(bytes.len() as u64);
            return Ok(());
        }
        // Most manifests name only stills: the fields are split only when
        // the record may name a video.
        if names_video_extension(bytes) {
            let fields = record_fields(&text);
            if let Some(key) = fields.get(columns.uri).map(|u| u.trim()).filter(|u| is_video_file(u)) {
                let span = columns.spans.span(|i| fields.get(i).cloned()).map_err(|problem| InputError::Manifest { file: self.uri.clone(), line: self.line, problem })?;
                // Stills before it are one range; the video is planned
                // apart and the next range starts after it.
                if let Some(done) = self.shard.finish() {
                    self.emit(done)?;
                }
                self.shard.skip(bytes.len() as u64);
                (self.on_piece)(Piece::Video(NamedVideo { key: key.to_string(), name: Some(key.to_string()), span }));
                return Ok(());
            }
        }
        if let Some(done) = self.shard.push(bytes) {
            self.emit(done)?;
        }
        Ok(())
    }

    fn emit(&mut self, FilledRange { start, end, first_line, digest, rows }: FilledRange) -> Result<(), InputError> {
        self.shards += 1;
        if self.shards > self.max_shards {
            return Err(InputError::TooManyShards { input: self.uri.clone(), max: self.max_shards, rows_per_shard: self.shard.per });
        }
        let uri_column = self.columns.expect("a range follows the header").uri;
        (self.on_piece)(Piece::Range(InputShard { range: InputRange::Csv { folder: self.folder.clone(), file: self.file.clone(), uri_column, start, end, first_line, digest }, first_row: 0, rows }));
        Ok(())
    }

    fn finish(mut self) -> Result<(), InputError> {
        if self.scanner.in_quotes() {
            return Err(InputError::OpenQuote { file: self.uri.clone(), line: self.line + 1 });
        }
        if self.scanner.has_tail() {
            let record = std::mem::take(&mut self.record);
            self.on_record(&record, self.offset)?;
        }
        if self.columns.is_none() {
            return Err(InputError::Empty { file: self.uri.clone() });
        }
        if let Some(done) = self.shard.finish() {
            self.emit(done)?;
        }
        Ok(())
    }
}

/// Whether `record` holds `.<video extension>` anywhere (a cheap test
/// before splitting its fields).
fn names_video_extension(record: &[u8]) -> bool {
    record.iter().enumerate().any(|(i, &b)| {
        b == b'.' && {
            let rest = &record[i + 1..];
            let end = rest.iter().position(|c| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            end <= 5 && is_video_file(&format!("x.{}", String::from_utf8_lossy(&rest[..end])))
        }
    })
}

/// A full shard's byte range, first line, digest and row count.
struct FilledRange {
    start: u64,
    end: u64,
    first_line: u64,
    digest: String,
    rows: u64,
}

/// Accumulates one shard's byte range and digest.
struct ShardBuilder {
    per: u64,
    start: u64,
    end: u64,
    first_line: u64,
    next_line: u64,
    rows: u64,
    hash: u128,
}

impl ShardBuilder {
    fn new(per: u64) -> ShardBuilder {
        ShardBuilder { per, start: 0, end: 0, first_line: 0, next_line: 0, rows: 0, hash: 0 }
    }

    fn start(&mut self, at: u64, line: u64) {
        self.start = at;
        self.end = at;
        self.first_line = line;
        self.next_line = line;
    }

    fn skip(&mut self, len: u64) {
        self.end += len;
        self.next_line += 1;
        if self.rows == 0 {
            self.start = self.end;
            self.first_line = self.next_line;
        }
    }

    /// Adds a record; returns the finished shard when it is full.
    fn push(&mut self, bytes: &[u8]) -> Option<FilledRange> {
        self.end += bytes.len() as u64;
        self.next_line += 1;
        self.rows += 1;
        // The digest covers the records themselves, folded into one running
        // hash so memory stays flat.
        self.hash = fnv1a_128(&[&self.hash.to_le_bytes()[..], bytes].concat());
        if self.rows == self.per {
            return self.finish();
        }
        None
    }

    fn finish(&mut self) -> Option<FilledRange> {
        if self.rows == 0 {
            return None;
        }
        let done = FilledRange { start: self.start, end: self.end, first_line: self.first_line, digest: format!("{:032x}", self.hash), rows: self.rows };
        self.start = self.end;
        self.first_line = self.next_line;
        self.rows = 0;
        self.hash = 0;
        Some(done)
    }
}

/// Cuts the images below `store` (a folder or prefix) into shards of
/// `rows_per_shard` keys, listing once, and each video into shards of
/// sampled frames ([`super::video_cut`]). S3 lists in key order; a local
/// folder is listed, then its keys sorted.
pub async fn split_keys(store: &Store, rows_per_shard: u64, max_shards: u64, videos: VideoCut, on_shard: impl FnMut(InputShard)) -> Result<u64, InputError> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut cutter = KeyCutter { root: store.uri().to_string(), per: rows_per_shard, max_shards, shards: 0, in_shard: 0, after: None, last: String::new(), hash: 0, too_many: false, unknown: Vec::new(), unknown_seen: 0, on_piece: |p| pieces.push(p) };
    let list_error = |source| InputError::Store { uri: store.uri().to_string(), source };
    if store.uri().starts_with("s3://") {
        store.for_each_key("", |key| cutter.push(key)).await.map_err(list_error)?;
    } else {
        let mut keys = Vec::new();
        store.for_each_key("", |key| keys.push(key.to_string())).await.map_err(list_error)?;
        keys.sort();
        keys.iter().for_each(|k| cutter.push(k));
    }
    cutter.finish();
    if cutter.unknown_seen > MAX_SNIFFED {
        return Err(InputError::TooManyUnknown { input: store.uri().to_string(), max: MAX_SNIFFED });
    }
    if cutter.too_many {
        return Err(InputError::TooManyShards { input: store.uri().to_string(), max: max_shards, rows_per_shard });
    }
    let rows = plan_pieces(store, pieces, videos, max_shards, rows_per_shard, on_shard).await?;
    if rows == 0 {
        return Err(InputError::NoImages { input: store.uri().to_string() });
    }
    Ok(rows)
}

struct KeyCutter<F: FnMut(Piece)> {
    root: String,
    per: u64,
    max_shards: u64,
    shards: u64,
    in_shard: u64,
    after: Option<String>,
    last: String,
    hash: u128,
    too_many: bool,
    /// Files of no known kind met since the last range began: they follow
    /// that range, so rows stay close to key order.
    unknown: Vec<String>,
    unknown_seen: u64,
    on_piece: F,
}

/// Files of no known kind a folder may hold (each costs the plan a read).
const MAX_SNIFFED: u64 = 100_000;

impl<F: FnMut(Piece)> KeyCutter<F> {
    fn push(&mut self, key: &str) {
        if self.too_many {
            return;
        }
        if worth_sniffing(key) {
            // Not in any range's listing (a worker keeps only scored
            // names): planned on its own if its head says video.
            self.unknown_seen += 1;
            if self.unknown_seen <= MAX_SNIFFED {
                self.unknown.push(key.to_string());
            }
            return;
        }
        if !is_scored_file(key) {
            return;
        }
        if is_video_file(key) {
            // Stills before it are one range, the video its own shards,
            // and the next range starts after it.
            if self.in_shard > 0 {
                self.cut();
            }
            self.flush_unknown();
            (self.on_piece)(Piece::Video(NamedVideo { key: key.to_string(), name: None, span: None }));
            self.after = Some(key.to_string());
            return;
        }
        self.in_shard += 1;
        self.hash = fnv1a_128(&[&self.hash.to_le_bytes()[..], key.as_bytes()].concat());
        self.last = key.to_string();
        if self.in_shard == self.per {
            self.cut();
        }
    }

    fn finish(&mut self) {
        if self.in_shard > 0 && !self.too_many {
            self.cut();
        }
        self.flush_unknown();
    }

    fn flush_unknown(&mut self) {
        for key in std::mem::take(&mut self.unknown) {
            (self.on_piece)(Piece::Unknown { key });
        }
    }

    fn cut(&mut self) {
        self.shards += 1;
        if self.shards > self.max_shards {
            self.too_many = true;
            return;
        }
        (self.on_piece)(Piece::Range(InputShard {
            range: InputRange::Keys { root: self.root.clone(), after: self.after.clone(), last: self.last.clone(), digest: format!("{:032x}", self.hash) },
            first_row: 0,
            rows: self.in_shard,
        }));
        self.after = Some(self.last.clone());
        self.in_shard = 0;
        self.hash = 0;
        self.flush_unknown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `bytes` fed in chunks of `chunk` bytes: the pieces, rows
    /// numbered as the plan numbers them.
    fn split_pieces(bytes: &[u8], chunk: usize, per: u64) -> Result<Vec<Piece>, InputError> {
        let mut pieces = Vec::new();
        let mut s = CsvSplitter {
            folder: "/m".into(),
            file: "m.csv".into(),
            uri: "/m/m.csv".into(),
            max_shards: 100,
            scanner: RecordScanner::default(),
            record: Vec::new(),
            offset: 0,
            line: 0,
            columns: None,
            shards: 0,
            shard: ShardBuilder::new(per),
            on_piece: |x| pieces.push(x),
        };
        for c in bytes.chunks(chunk) {
            s.feed(c)?;
        }
        s.finish()?;
        Ok(pieces)
    }

    /// The ranges of a manifest of stills.
    fn split(bytes: &[u8], chunk: usize, per: u64) -> Result<(u64, Vec<InputShard>), InputError> {
        let mut rows = 0;
        let mut shards = Vec::new();
        for piece in split_pieces(bytes, chunk, per)? {
            let Piece::Range(mut shard) = piece else { panic!("a still manifest has only ranges") };
            shard.first_row = rows;
            rows += shard.rows;
            shards.push(shard);
        }
        Ok((rows, shards))
    }

    #[test]
    fn a_manifest_s_videos_are_planned_apart_with_their_spans() {
        let csv = "uri,length_m\na.png,\nb.png,\nrun1.MPG,42.5\nc.png,\n\"x, y.mp4\",\nd.png,7\n";
        let pieces = split_pieces(csv.as_bytes(), 5, 10).unwrap();
        let kinds: Vec<String> = pieces
            .iter()
            .map(|p| match p {
                Piece::Range(s) => format!("range {}", s.rows),
                Piece::Video(v) => format!("video {} {:?}", v.key, v.span.map(|s| s.end_m)),
                Piece::Unknown { .. } => "unknown".into(),
            })
            .collect();
        assert_eq!(kinds, ["range 2", "video run1.MPG Some(42.5)", "range 1", "video x, y.mp4 None", "range 1"]);
        // Each range's bytes are exactly its stills.
        for p in &pieces {
            if let Piece::Range(InputShard { range: InputRange::Csv { start, end, .. }, .. }) = p {
                let text = &csv[*start as usize..*end as usize];
                assert!(!text.contains(".mp4") && !text.to_lowercase().contains(".mpg"), "{text:?}");
            }
        }
        let bad = split_pieces(b"uri,length_m\na.png,1\nb.mpg,12 m\n", 64, 10).err().unwrap().to_string();
        assert!(bad.contains("/m/m.csv, line 3") && bad.contains("\"12 m\""), "{bad}");
        assert!(split_pieces(b"uri,start_m\na.mpg,1\n", 64, 10).err().unwrap().to_string().contains("line 1"));
        assert!(names_video_extension(b"1,site/Run 4.m4v,x") && names_video_extension(b"a.wmv") && !names_video_extension(b"a.mp4x,b.png") && !names_video_extension(b"v1.2.png"));
    }

    const CSV: &str = "\u{feff}site,uri\r\n1,a.png\r\n\r\n2,\"b,1.png\"\r\n3,\"multi\nline.png\"\r\n4,d.png\r\n5,e.png";

    #[test]
    fn shards_are_the_same_however_the_bytes_arrive() {
        let (rows, one) = split(CSV.as_bytes(), CSV.len(), 2).unwrap();
        assert_eq!(rows, 5);
        for chunk in [1, 2, 3, 7] {
            assert_eq!(split(CSV.as_bytes(), chunk, 2).unwrap().1, one, "chunks of {chunk}");
        }
        assert_eq!(one.iter().map(|s| (s.first_row, s.rows)).collect::<Vec<_>>(), [(0, 2), (2, 2), (4, 1)]);
        // Each range holds exactly its records: the worker's split of it.
        for s in &one {
            let InputRange::Csv { start, end, uri_column, .. } = &s.range else { panic!() };
            let text = &CSV.as_bytes()[*start as usize..*end as usize];
            let mut ends = Vec::new();
            RecordScanner::default().feed(text, |e| ends.push(e));
            let records = String::from_utf8_lossy(text);
            let uris: Vec<String> = records.split("\r\n").filter(|r| !is_blank(r)).map(|r| record_fields(r)[*uri_column].clone()).collect();
            assert_eq!(uris.len() as u64, s.rows, "{records:?}");
        }
    }

    #[test]
    fn a_header_without_uri_an_open_quote_and_too_many_shards_are_errors() {
        assert!(matches!(split(b"path,label\na,1\n", 4, 2), Err(InputError::NoUriColumn { .. })));
        assert!(matches!(split(b"uri\n\"a.png\n", 4, 2), Err(InputError::OpenQuote { .. })));
        assert!(matches!(split(b"", 4, 2), Err(InputError::Empty { .. })));
        let many: String = std::iter::once("uri\n".to_string()).chain((0..300).map(|i| format!("{i}.png\n"))).collect();
        assert!(matches!(split(many.as_bytes(), 64, 2), Err(InputError::TooManyShards { max: 100, .. })));
    }
}
