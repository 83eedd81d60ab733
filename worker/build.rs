//! Embeds an rpath to libtorch so the `rwclip` binary and the test binaries run
//! without LD_LIBRARY_PATH, and keeps libtorch_cuda linked: with the default
//! `--as-needed`, the linker drops it (no symbol is referenced directly) and
//! CUDA is then silently reported unavailable on GPU machines.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set; no rpath embedded");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
