//! Test harness pieces shared by rwclip's test suites. Nothing here is mocked:
//! [`moto::MotoServer`] is a real S3 HTTP endpoint on loopback,
//! [`python`] runs the reference venv (pyarrow, scikit-learn, open_clip), and
//! [`cluster`] runs the real `rwclip coordinator` and `rwclip worker` processes
//! ([`process`]), watched with a blocking [`client`]; [`tiny_job`] is the job
//! they run and [`store_snapshot`] what pyarrow reads back; [`docker`]
//! builds and runs the real container image on a local Docker engine;
//! [`bench`] times the benches; [`fault_proxy`] stands between rwclip and
//! moto and makes the store misbehave on purpose.
//! A missing tool fails the test with what to install, never a skip.

pub mod bench;
pub mod browser;
pub mod client;
pub mod cluster;
pub mod docker;
pub mod fault_proxy;
pub mod http;
pub mod moto;
pub mod process;
pub mod python;
pub mod store_snapshot;
pub mod tiny_job;
