//! The one place that maps an error to the `rwclip` binary's exit code
//! (documented in docs/command-line.md).

use rwclip_datasets::ListError;
use rwclip_plan::PlanError;

use crate::client::ClientError;
use crate::error::{EngineError, RwclipError};
use crate::remote::RemoteError;

/// Unexpected internal failure (libtorch error, bug).
pub const INTERNAL: i32 = 1;
/// The command line or the job file is wrong.
pub const USAGE: i32 = 2;
/// Input data is wrong: images, datasets, weights, checkpoints, Parquet.
pub const BAD_INPUT: i32 = 3;
/// The artifact store could not be read or written.
pub const STORE: i32 = 4;

pub fn exit_code(e: &RwclipError) -> i32 {
    match e {
        RwclipError::Engine(e) => engine(e),
        RwclipError::Remote(e) => remote(e),
        // The same codes as the `rwclip-coordinator` binary.
        RwclipError::Coordinator(e) => rwclip_coordinator::cli::exit_code(e),
        RwclipError::Client(e) => client(e),
    }
}

fn engine(e: &EngineError) -> i32 {
    use EngineError::*;
    match e {
        Usage(_) | Job(_) | Prompt(_) => USAGE,
        Dataset(_) | Image(_) | Weights(_) | Metrics(_) | Fnn(_) | Artifact(_) | Io { .. } | ScoresTable(_) | MapsTable(_) | PixelMetrics(_) => BAD_INPUT,
        InCategory { source, .. } => engine(source),
        Plan(PlanError::Preset { .. } | PlanError::Options { .. } | PlanError::TooManyShards { .. } | PlanError::Job(_)) => USAGE,
        Plan(PlanError::List(ListError::Dataset { .. } | ListError::NoImages { .. }) | PlanError::TooFewReferences { .. }) => BAD_INPUT,
        Plan(PlanError::List(ListError::Runtime { .. })) => INTERNAL,
        Store(_) => STORE,
        // What stayed unavailable past its retries is the store or the
        // machine, not the input: the same code as a store failure.
        Unavailable(_) => STORE,
        Tokenizer(_) | Torch(_) => INTERNAL,
    }
}

/// A job the coordinator refused (bad job file, bad token) is the user's to
/// fix; an unreachable coordinator is not.
fn remote(e: &RemoteError) -> i32 {
    if e.is_usage() {
        USAGE
    } else {
        INTERNAL
    }
}

/// A job with a shard that failed on its input (failure class bad input) is
/// the user's to fix; every other failure is internal.
fn client(e: &ClientError) -> i32 {
    match e {
        ClientError::JobFailed { bad_input: true, .. } => BAD_INPUT,
        ClientError::NoWorkers(_) => USAGE,
        ClientError::Coordinator(e) => rwclip_coordinator::cli::exit_code(e),
        _ => INTERNAL,
    }
}
