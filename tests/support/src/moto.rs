//! A real S3 server for tests: `moto_server` from the reference venv, started
//! on a free loopback port and killed when dropped (also on panic).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Credentials moto accepts (it does not check signatures).
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> MotoServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind a loopback port")
            .local_addr()
            .expect("local address")
            .port();
        Self::start_on(port)
    }

    /// Starts a server on `port` (used to restart one mid-test).
    pub fn start_on(port: u16) -> MotoServer {
        let bin = PathBuf::from(env!("RWCLIP_PYTHON")).with_file_name("moto_server");
        assert!(bin.exists(), "{} not found: install moto[server] (make bootstrap)", bin.display());
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; install moto[server] (make bootstrap)", bin.display()));
        let mut server = MotoServer { child, port };
        server.wait_until_answering();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The standard AWS variables that point a client (rwclip, boto3) here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll moto_server") {
                panic!("moto_server exited early with {status}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not answer on port {} within 60 s", self.port);
    }

    /// CreateBucket as a bare HTTP request.
    pub fn create_bucket(&self, bucket: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto_server");
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("send CreateBucket");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read CreateBucket response");
        assert!(response.starts_with("HTTP/1.1 200"), "CreateBucket {bucket} failed: {response}");
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
