//! Weights in object storage: a job may name `s3://bucket/key` weights;
//! workers fetch them through the store and get the same model as from a
//! local file. Runs against a real S3 server (moto) on loopback.

use std::path::Path;

use bytes::Bytes;
use rwclip_plan::ModelRef;
use rwclip_test_support::moto::MotoServer;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::shard::ExecContext;

fn reference_weights() -> Vec<u8> {
    let path = Path::new(env!("RWCLIP_REFERENCE_DIR")).join("clip_tiny/weights.safetensors");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} is missing ({e}): run `make reference`", path.display()))
}

#[test]
fn s3_weights_load_the_same_model_as_the_local_file_and_a_missing_key_is_named() {
    let server = MotoServer::start();
    server.create_bucket("weights");
    // This test binary holds only this test, so the process environment is
    // its own: Store::open reads the standard AWS variables.
    for (k, v) in server.env() {
        std::env::set_var(k, v);
    }
    let bytes = reference_weights();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("tiny.safetensors");
    std::fs::write(&local, &bytes).unwrap();
    BlockingStore::open("s3://weights/models").unwrap().put("tiny.safetensors", Bytes::from(bytes)).unwrap();

    let mut ctx = ExecContext::new(tch::Device::Cpu, 2);
    let remote = ModelRef::new("rwclip-tiny", Some("s3://weights/models/tiny.safetensors".into()));
    let from_s3 = ctx.model(&remote).unwrap();
    let from_file = ctx
        .model(&ModelRef::new("rwclip-tiny", Some(local.to_string_lossy().into_owned())))
        .unwrap();
    let vars = |m: &rwclip_engine::clip::ClipModel| {
        let mut v: Vec<_> = m.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (a, b) = (vars(&from_s3), vars(&from_file));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x.equal(y), "{name} differs between the S3 and the local load");
    }
    assert_eq!(ctx.loaded().len(), 2, "both kept in the model cache");

    let missing = ModelRef::new("rwclip-tiny", Some("s3://weights/models/nope.safetensors".into()));
    let err = ctx.model(&missing).err().expect("a missing object is an error").to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
}
