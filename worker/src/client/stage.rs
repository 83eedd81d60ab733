//! Names of the pipeline stages (shard kinds) as users see them.

use rwclip_plan::ShardKind;
use rwclip_proto::v1 as pb;

/// The stage name of a `ShardKind` wire value: `rwclip_core`'s
/// `ShardKind::stage_name`, the names the coordinator's dashboard and
/// metrics use; "other" for a kind this client does not know.
pub fn stage_name(kind: i32) -> &'static str {
    let kind = match pb::ShardKind::try_from(kind) {
        Ok(pb::ShardKind::TextEmbedding) => ShardKind::TextEmbedding,
        Ok(pb::ShardKind::ImageEmbedding) => ShardKind::ImageEmbedding,
        Ok(pb::ShardKind::Trial) => ShardKind::Trial,
        Ok(pb::ShardKind::Score) => ShardKind::Score,
        Ok(pb::ShardKind::ContactSheet) => ShardKind::ContactSheet,
        Ok(pb::ShardKind::Aggregate) => ShardKind::Aggregate,
        Ok(pb::ShardKind::Unspecified) | Err(_) => return "other",
    };
    kind.stage_name()
}
