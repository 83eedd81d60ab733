//! Results waiting to be told to the coordinator. They survive a lost
//! connection (sent again after reconnecting) but not a new registration:
//! the coordinator re-leases the old registration's attempts itself.

use std::collections::VecDeque;

use rwclip_common::failure::ShardFailure;
use rwclip_coordinator::convert::class_to_proto;
use rwclip_common::plan::AttemptId;
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

    /// Sends the report; `Ok(Some(note))` when the coordinator ignored it
    /// (a stale attempt), which is not an error.
    pub async fn send(&self, client: &mut CoordinatorClient, worker_id: &str) -> Result<Option<String>, RemoteError> {
        let ack = match self {
            Report::Complete { attempt, manifest_json } => client
                .complete_shard(pb::CompleteShardRequest {
                    worker_id: worker_id.to_string(),
                    attempt_id: attempt.0.clone(),
                    manifest_json: manifest_json.clone(),
                })
                .await
                .map_err(RemoteError::rpc("CompleteShard"))?,
            Report::Fail { attempt, failure } => client
                .fail_shard(pb::FailShardRequest {
                    worker_id: worker_id.to_string(),
                    attempt_id: attempt.0.clone(),
                    failure_class: class_to_proto(failure.class) as i32,
                    reason: failure.reason.clone(),
                    missing_dependencies: failure.missing_dependencies.iter().map(|d| d.0.clone()).collect(),
                })
                .await
                .map_err(RemoteError::rpc("FailShard"))?,
        }
        .into_inner();
        Ok((!ack.accepted).then_some(ack.note))
    }
}

/// Reports in the order the attempts finished.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Report>,
}

impl Outbox {
    pub fn push(&mut self, report: Report) {
        self.queue.push_back(report);
    }

    pub fn front(&self) -> Option<&Report> {
        self.queue.front()
    }

    pub fn pop(&mut self) {
        self.queue.pop_front();
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
