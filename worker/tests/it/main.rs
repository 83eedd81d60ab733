//! rwclip-worker's integration tests in one binary: one module per suite, so the
//! dependency graph is linked once and the suites run side by side.

mod chaos;
mod cli;
mod clip_parity;
mod clip_weights_errors;
mod cluster_sweep;
mod container_image;
mod dashboard;
mod datasets_on_s3;
mod deploy;
mod fnn;
mod maps_cli;
mod maps_parity;
mod multi_crop;
mod paper_tables;
mod random_init;
mod score;
mod score_job;
mod score_videos;
mod shards;
mod slurm;
mod store_faults;
mod submit;
mod sweep_maps;
mod tls_cluster;
mod worker_loop;
