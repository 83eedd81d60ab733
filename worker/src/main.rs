//! `rwclip`: the whole CLI. Thin: parsing and exit codes here, everything
//! else in the library.

use clap::Parser;
use rwclip_worker::cli::exit::exit_code;
use rwclip_worker::cli::{dispatch, Cli};

fn main() {
    let cli = Cli::parse();
    rwclip_coordinator::logging::init_logging();
    if let Err(e) = dispatch(cli) {
        eprintln!("rwclip: error: {e}");
        std::process::exit(exit_code(&e));
    }
}
