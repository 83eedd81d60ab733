//! Results waiting to be told to the coordinator. They survive a lost
//! connection (sent again after reconnecting) but not a new registration:
//! the coordinator re-leases the old registration's attempts itself.

use std::collections::VecDeque;

use rwclip_core::failure::ShardFailure;
use rwclip_coordinator::convert::class_to_proto;
use rwclip_plan::AttemptId;
use rwclip_proto::v1 as pb;

use crate::remote::{CoordinatorClient, RemoteError};

#[derive(Debug, Clone)]
pub enum Report {
    Complete { attempt: AttemptId, manifest_json: String },
    Fail { attempt: AttemptId, failure: ShardFailure },
}

impl Report {
    pub fn attempt(&self) -> &AttemptId {
        match self {
            Report::Complete { attempt, .. } | Report::Fail { attempt, .. } => attempt,
        }
    }

}

/// Sends reports from the front of the queue in one round trip: the run of
/// completions there (at most `MAX_COMPLETIONS_PER_CALL`) as one
/// CompleteShards, or a failure alone. Returns, per report sent, the note
/// of a coordinator that ignored it (a stale attempt), which is not an error.
pub async fn send_front(reports: &[Report], client: &mut CoordinatorClient, worker_id: &str) -> Result<Vec<Option<String>>, RemoteError> {
    let note = |ack: pb::ReportAck| (!ack.accepted).then_some(ack.note);
    match reports.first() {
        None => Ok(Vec::new()),
        Some(Report::Fail { attempt, failure }) => {
            let ack = client
                .fail_shard(pb::FailShardRequest {
                    worker_id: worker_id.to_string(),
                    attempt_id: attempt.0.clone(),
                    failure_class: class_to_proto(failure.class) as i32,
                    reason: failure.reason.clone(),
                    missing_dependencies: failure.missing_dependencies.iter().map(|d| d.0.clone()).collect(),
                })
                .await
                .map_err(RemoteError::rpc("FailShard"))?;
            Ok(vec![note(ack.into_inner())])
        }
        Some(Report::Complete { .. }) => {
            let completions: Vec<pb::ShardCompletion> = reports[..batch_len(reports)]
                .iter()
                .filter_map(|r| match r {
                    Report::Complete { attempt, manifest_json } => Some(pb::ShardCompletion { attempt_id: attempt.0.clone(), manifest_json: manifest_json.clone() }),
                    Report::Fail { .. } => None,
                })
                .collect();
            let sent = completions.len();
            let acks = client
                .complete_shards(pb::CompleteShardsRequest { worker_id: worker_id.to_string(), completions })
                .await
                .map_err(RemoteError::rpc("CompleteShards"))?
                .into_inner()
                .acks;
            if acks.len() != sent {
                let status = tonic::Status::internal(format!("{} acks for {sent} completions", acks.len()));
                return Err(RemoteError::Rpc { rpc: "CompleteShards", status });
            }
            Ok(acks.into_iter().map(note).collect())
        }
    }
}

/// How many reports from the front [`send_front`] sends in one call.
pub fn batch_len(reports: &[Report]) -> usize {
    match reports.first() {
        None => 0,
        Some(Report::Fail { .. }) => 1,
        Some(Report::Complete { .. }) => reports.iter().take(MAX_COMPLETIONS_PER_CALL).take_while(|r| matches!(r, Report::Complete { .. })).count(),
    }
}

/// Completions one CompleteShards call carries (the coordinator's bound).
pub const MAX_COMPLETIONS_PER_CALL: usize = 256;

/// Reports in the order the attempts finished.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Report>,
}

impl Outbox {
    pub fn push(&mut self, report: Report) {
        self.queue.push_back(report);
    }

    /// The queue's front, contiguous, for [`send_front`].
    pub fn front_run(&mut self) -> &[Report] {
        self.queue.make_contiguous()
    }

    pub fn pop(&mut self, n: usize) {
        self.queue.drain(..n.min(self.queue.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops everything (a new registration).
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        n
    }
}
