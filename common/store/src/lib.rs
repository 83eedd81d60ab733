//! Where every byte rwclip reads or writes lives: a local directory or an
//! S3 prefix behind one object-store interface ([`Store`]), every call
//! retried through outages with its health counted ([`retry`]), and the
//! shard-store protocol on top ([`shard_store`]: part keys, manifests, the
//! first-commit-wins conditional put).
//!
//! Does not belong here: what the bytes mean. Parquet schemas and typed
//! reads of a shard's parts are `rwclip-artifacts`'; datasets are
//! `rwclip-datasets`'.

mod block_on;
mod error;
pub mod retry;
pub mod shard_store;
mod store;

pub use block_on::block_on_here;
pub use error::StoreError;
pub use retry::StoreSettings;
pub use store::Store;
