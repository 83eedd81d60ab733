//! Test harness pieces shared by rwclip's test suites. Nothing here is mocked:
//! [`moto::MotoServer`] is a real S3 HTTP endpoint on loopback, and
//! [`python`] runs the reference venv (pyarrow, scikit-learn, open_clip).
//! A missing tool fails the test with what to install, never a skip.

pub mod moto;
pub mod python;
