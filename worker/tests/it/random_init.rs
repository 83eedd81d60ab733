//! Random-init models (the demo, the tests) are the same weights whatever
//! else the process is doing: a worker builds models on several executor
//! threads at once, and libtorch's RNG is global to the process.

use rwclip_job::clip_config::ClipConfig;
use rwclip_engine::clip::ClipModel;

fn weights() -> Vec<(String, tch::Tensor)> {
    let cfg = ClipConfig::preset("rwclip-tiny").unwrap();
    let model = ClipModel::load(&cfg, None, tch::Device::Cpu).unwrap();
    let mut vars: Vec<_> = model.vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

#[test]
fn random_init_is_identical_when_models_are_built_on_threads_at_once() {
    let reference = weights();
    let built: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(weights)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, vars) in built.iter().enumerate() {
        assert_eq!(vars.len(), reference.len());
        for ((name, a), (_, b)) in vars.iter().zip(&reference) {
            assert!(a.equal(b), "thread {t}: {name} differs from a model built alone");
        }
    }
}
