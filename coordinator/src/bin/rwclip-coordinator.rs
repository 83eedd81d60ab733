//! `rwclip-coordinator --bind ADDR --store URI [--token-file F] ...`
//! (the same flags as `rwclip coordinator`, see `rwclip_coordinator::cli`).

use clap::Parser;
use rwclip_coordinator::cli::{exit_code, serve, CoordinatorArgs};

#[derive(Parser)]
#[command(about = "rwclip coordinator: leases job shards to rwclip workers over gRPC")]
struct Args {
    #[command(flatten)]
    coordinator: CoordinatorArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    rwclip_coordinator::logging::init_logging();
    if let Err(e) = serve(args.coordinator).await {
        eprintln!("rwclip-coordinator: {e}");
        std::process::exit(exit_code(&e));
    }
}
