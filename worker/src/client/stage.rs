//! Names of the pipeline stages (shard kinds) as users see them.

use rwclip_proto::v1::ShardKind;

/// The stage name of a `ShardKind` wire value (as `rwclip_common`'s
/// `ShardKind::stage_name`, which the coordinator's dashboard uses).
pub fn stage_name(kind: i32) -> &'static str {
    match ShardKind::try_from(kind) {
        Ok(ShardKind::TextEmbedding) => "text",
        Ok(ShardKind::ImageEmbedding) => "image",
        Ok(ShardKind::Trial) => "trial",
        Ok(ShardKind::Aggregate) => "aggregate",
        Ok(ShardKind::Score) => "score",
        Ok(ShardKind::ContactSheet) => "contact-sheet",
        Ok(ShardKind::Unspecified) | Err(_) => "other",
    }
}
