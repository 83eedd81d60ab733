//! A Parquet manifest cut into row ranges: the planner reads its footer,
//! then only its `uri` (and span) columns; a worker reads its range's rows.

use bytes::Bytes;

use rwclip_store::Store;
use rwclip_core::media::is_video_file;
use rwclip_core::hash::fnv1a_128;

use rwclip_plan::pipe_span::SpanColumns;
use rwclip_plan::score_input::{InputRange, InputShard};

use crate::input_error::{store_error, InputError};
use super::video_cut::{plan_pieces, NamedVideo, Piece, VideoCut};

/// Cuts the Parquet manifest `file` of `store` into shards of
/// `rows_per_shard` rows, and each video it names into shards of sampled
/// frames: it reads the footer, then only the `uri` column (and the span
/// columns) a row group at a time. The digest covers the footer and the
/// file size.
pub async fn split_parquet(store: &Store, file: &str, rows_per_shard: u64, max_shards: u64, videos: VideoCut, on_shard: impl FnMut(InputShard)) -> Result<u64, InputError> {
    let uri = store.full_uri(file);
    let bad = |problem: String| InputError::Parquet { file: uri.clone(), problem };
    let size = store.size(file).await.map_err(store_error(store, file))?;
    if size < 12 {
        return Err(bad("is too short to be Parquet".to_string()));
    }
    let tail = store.get_range(file, size - 8..size).await.map_err(store_error(store, file))?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("does not end in PAR1 (not a Parquet file)".to_string()));
    }
    let len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    if len + 8 > size {
        return Err(bad(format!("its footer claims {len} bytes, the file has {size}")));
    }
    let footer = store.get_range(file, size - 8 - len..size - 8).await.map_err(store_error(store, file))?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| bad(format!("its footer does not decode: {e}")))?;
    let schema = metadata.file_metadata().schema_descr();
    let names: Vec<String> = (0..schema.num_columns()).map(|i| schema.column(i).name().to_string()).collect();
    let Some(uri_column) = names.iter().position(|n| n == "uri") else {
        return Err(InputError::NoUriColumn { file: uri.clone(), columns: names.join(", ") });
    };
    let spans = SpanColumns::from_header(&names).map_err(|problem| InputError::Manifest { file: uri.clone(), line: 1, problem })?;
    let total = metadata.file_metadata().num_rows().max(0) as u64;
    let digest = format!("{:032x}-{size}", fnv1a_128(&footer));
    let range = |start: u64, rows: u64| Piece::Range(InputShard { range: InputRange::Parquet { folder: store.uri().to_string(), file: file.to_string(), start, rows, digest: digest.clone() }, first_row: start, rows });
    let mut pieces: Vec<Piece> = Vec::new();
    let (mut row, mut run_start) = (0u64, 0u64);
    let columns: Vec<usize> = std::iter::once(uri_column).chain(spans.indices()).collect();
    let scanned = super::parquet_scan::scan_columns(store, file, size, std::sync::Arc::new(metadata), &columns, |batch| {
        let column = |leaf: usize| batch.column_by_name(&names[leaf]);
        let uris = column(uri_column).ok_or("the `uri` column was not read")?;
        for i in 0..batch.num_rows() {
            let key = rwclip_datasets::manifest::cell(uris, i).map(|u| u.trim().to_string()).filter(|u| is_video_file(u));
            match key {
                Some(key) => {
                    if row > run_start {
                        pieces.push(range(run_start, row - run_start));
                    }
                    let span = spans.span(|leaf| column(leaf).and_then(|a| rwclip_datasets::manifest::cell(a, i))).map_err(|problem| format!("row {}: {problem}", row + 1))?;
                    pieces.push(Piece::Video(NamedVideo { key: key.clone(), name: Some(key), span }));
                    run_start = row + 1;
                }
                None if row + 1 - run_start == rows_per_shard => {
                    pieces.push(range(run_start, rows_per_shard));
                    run_start = row + 1;
                }
                None => {}
            }
            row += 1;
            if pieces.len() as u64 > max_shards {
                return Err(format!("more than {max_shards} shards of {rows_per_shard} rows; raise `rows_per_shard`"));
            }
        }
        Ok(())
    })
    .await;
    match scanned {
        Ok(()) => {}
        Err(super::parquet_scan::ScanError::Store(source)) => return Err(InputError::Store { uri: uri.clone(), source }),
        Err(super::parquet_scan::ScanError::Parquet(problem)) => return Err(bad(problem)),
    }
    if row != total {
        return Err(bad(format!("its footer counts {total} rows, its `uri` column {row}")));
    }
    if row > run_start {
        pieces.push(range(run_start, row - run_start));
    }
    plan_pieces(store, pieces, videos, max_shards, rows_per_shard, on_shard).await
}

/// The `uri` of rows `start .. start + rows` of a Parquet manifest (`None`
/// for a null or empty cell).
pub fn parquet_uris(file: &str, bytes: Bytes, start: u64, rows: u64) -> Result<Vec<Option<String>>, InputError> {
    use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
    use parquet::arrow::ProjectionMask;
    let bad = |problem: String| InputError::Parquet { file: file.to_string(), problem };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(format!("is not a readable Parquet file: {e}")))?;
    let column = (0..builder.parquet_schema().num_columns()).find(|&i| builder.parquet_schema().column(i).name() == "uri").ok_or_else(|| bad("has no `uri` column".to_string()))?;
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [column]);
    let selection = RowSelection::from(vec![RowSelector::skip(start as usize), RowSelector::select(rows as usize)]);
    let reader = builder.with_projection(mask).with_row_selection(selection).build().map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::with_capacity(rows as usize);
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("cannot be decoded: {e}")))?;
        let uri = batch.column_by_name("uri").ok_or_else(|| bad("has no `uri` column".to_string()))?;
        out.extend((0..batch.num_rows()).map(|i| rwclip_datasets::manifest::cell(uri, i).filter(|u| !u.is_empty())));
    }
    Ok(out)
}
