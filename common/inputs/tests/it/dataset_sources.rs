//! Datasets listed through the store: a synthesised MVTec tree lists exactly
//! as the directory reader reads it, VisA and Sewer-ML trees list from their
//! CSVs (images found by name anywhere under Sewer-ML's image folder), a
//! missing file names the CSV line, and the same trees on a real S3 server
//! (moto) list the same.

use std::path::Path;

use bytes::Bytes;
use rwclip_artifacts::Store;
use rwclip_datasets::mvtec;
use rwclip_datasets::source::{list, DatasetListing, ListOptions, DatasetKind};
use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_test_support::moto::{MotoServer, ACCESS_KEY, REGION, SECRET_KEY};

fn store(dir: &Path) -> Store {
    Store::open(dir.to_str().unwrap()).unwrap()
}

fn write(root: &Path, key: &str, bytes: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A VisA-layout tree: two objects, train normals, test normals and anomalies.
fn visa_tree(root: &Path) {
    let mut csv = String::from("object,split,label,image,mask\r\n");
    for object in ["pcb1", "candle"] {
        for i in 0..3 {
            let image = format!("{object}/Data/Images/Normal/{i:04}.JPG");
            write(root, &image, b"jpeg");
            let split = if i == 0 { "train" } else { "test" };
            csv.push_str(&format!("{object},{split},normal,{image},\r\n"));
        }
        let image = format!("{object}/Data/Images/Anomaly/000.JPG");
        let mask = format!("{object}/Data/Masks/Anomaly/000.png");
        write(root, &image, b"jpeg");
        write(root, &mask, b"png");
        csv.push_str(&format!("{object},test,anomaly,\"{image}\",{mask}\r\n"));
    }
    write(root, "split_csv/1cls.csv", format!("\u{feff}{csv}").as_bytes());
}

const SEWER_HEADER: &str = "Filename,WaterLevel,VA,RB,OB,PF,DE,FS,IS,RO,IN,AF,BE,FO,GR,PH,PB,OS,OP,OK,ND,Defect";

/// A Sewer-ML tree: annotation files at the root, images in several folders.
fn sewer_tree(root: &Path) {
    let mut val = format!("{SEWER_HEADER}\n");
    for i in 0..6u32 {
        let name = format!("{i:08}.png");
        write(root, &format!("images/part-{}/{name}", i % 2), b"png");
        let defect = u32::from(i % 3 == 0);
        val.push_str(&format!("{name},10,0,{defect},0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,{},{defect}\n", 1 - defect));
    }
    write(root, "SewerML_Val.csv", val.as_bytes());
    write(root, "SewerML_Train.csv", format!("{SEWER_HEADER}\n").as_bytes());
}

#[tokio::test]
async fn mvtec_listed_through_the_store_matches_the_directory_reader() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SynthSpec { categories: vec!["weave".into(), "granite".into()], train_good: 2, test_good: 2, test_defective: 1, image_size: 64, ..SynthSpec::default() };
    synth::write(dir.path(), &spec).unwrap();
    let listing = list(&store(dir.path()), DatasetKind::Mvtec, &ListOptions::default()).await.unwrap();
    assert_eq!(listing.images, mvtec::read_test(dir.path(), None).unwrap());
    let mut references = Vec::new();
    for category in mvtec::categories(dir.path()).unwrap() {
        references.extend(mvtec::read_train_good(dir.path(), &category).unwrap());
    }
    assert_eq!(listing.references, references);
    let one = list(&store(dir.path()), DatasetKind::Mvtec, &ListOptions { categories: Some(&["weave".to_string()]), ..ListOptions::default() }).await.unwrap();
    assert_eq!(one.images, mvtec::read_test(dir.path(), Some(&["weave".to_string()])).unwrap());
    let e = list(&store(dir.path()), DatasetKind::Mvtec, &ListOptions { categories: Some(&["cable".to_string()]), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("'cable' not found") && e.contains("granite, weave"), "{e}");
}

#[tokio::test]
async fn visa_lists_test_rows_and_train_normals_and_names_a_missing_image() {
    let dir = tempfile::tempdir().unwrap();
    visa_tree(dir.path());
    let listing = list(&store(dir.path()), DatasetKind::Visa, &ListOptions::default()).await.unwrap();
    assert_eq!(listing.to_json(), serde_json::json!({
        "kind": "visa", "split": "test", "images": 6, "references": 2,
        "categories": {"candle": {"normal": 2, "anomaly": 1}, "pcb1": {"normal": 2, "anomaly": 1}},
    }));
    assert_eq!(listing.images[0].category, "candle", "sorted by category");
    assert_eq!(listing.images[2].mask.as_deref(), Some("candle/Data/Masks/Anomaly/000.png"));

    std::fs::remove_file(dir.path().join("pcb1/Data/Images/Normal/0002.JPG")).unwrap();
    let e = list(&store(dir.path()), DatasetKind::Visa, &ListOptions::default()).await.unwrap_err().to_string();
    assert!(e.contains("1cls.csv, line 4, column image") && e.contains("pcb1/Data/Images/Normal/0002.JPG"), "{e}");
}

#[tokio::test]
async fn sewer_ml_finds_images_by_name_in_any_folder_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    sewer_tree(dir.path());
    let listing = list(&store(dir.path()), DatasetKind::SewerMl, &ListOptions { images: Some("images"), ..ListOptions::default() }).await.unwrap();
    assert_eq!(listing.split, "val");
    assert_eq!(listing.to_json()["categories"], serde_json::json!({"sewer": {"normal": 4, "anomaly": 2}}));
    assert_eq!(listing.images[1].path, "images/part-1/00000001.png");

    std::fs::remove_file(dir.path().join("images/part-0/00000004.png")).unwrap();
    let e = list(&store(dir.path()), DatasetKind::SewerMl, &ListOptions { images: Some("images"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("SewerML_Val.csv, line 6, column Filename") && e.contains("00000004.png"), "{e}");
    let e = list(&store(dir.path()), DatasetKind::SewerMl, &ListOptions { split: Some("test"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("no split \"test\""), "{e}");
}

/// Copies every file under `root` into `store`.
async fn upload(root: &Path, store: &Store, prefix: &Path) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            Box::pin(upload(&path, store, prefix)).await;
        } else {
            let key = path.strip_prefix(prefix).unwrap().to_str().unwrap().to_string();
            store.put(&key, Bytes::from(std::fs::read(&path).unwrap())).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_layout_lists_the_same_from_s3() {
    let moto = MotoServer::start();
    moto.create_bucket("datasets");
    let dir = tempfile::tempdir().unwrap();
    let mvtec_root = dir.path().join("mvtec");
    synth::write(&mvtec_root, &SynthSpec { categories: vec!["weave".into()], train_good: 1, test_good: 1, test_defective: 1, image_size: 64, ..SynthSpec::default() }).unwrap();
    visa_tree(&dir.path().join("visa"));
    sewer_tree(&dir.path().join("sewer"));
    let endpoint = moto.endpoint();
    let options = [("aws_endpoint", endpoint.as_str()), ("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY), ("aws_region", REGION)];
    for (name, kind, images) in [("mvtec", DatasetKind::Mvtec, None), ("visa", DatasetKind::Visa, None), ("sewer", DatasetKind::SewerMl, Some("images"))] {
        let s3 = Store::open_with_options(&format!("s3://datasets/{name}"), &options).unwrap();
        let local_root = dir.path().join(name);
        upload(&local_root, &s3, &local_root).await;
        let options = ListOptions { images, ..ListOptions::default() };
        let from_s3: DatasetListing = list(&s3, kind, &options).await.unwrap();
        let local = list(&store(&local_root), kind, &options).await.unwrap();
        assert_eq!(from_s3, local, "{name} lists differently from s3");
        assert!(!local.images.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn manifests_list_labelled_rows_of_the_split_from_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "frames/a.png", b"png");
    write(dir.path(), "frames/b.PNG", b"png");
    let outside = dir.path().join("elsewhere.png");
    std::fs::write(&outside, b"png").unwrap();
    let csv = format!(
        "uri,label,category,split\r\nframes/a.png,normal,pipes,test\r\n\"frames/b.PNG\",1,pipes,test\r\n{},anomaly,,test\r\nframes/a.png,0,pipes,train\r\n",
        outside.display()
    );
    write(dir.path(), "night.csv", csv.as_bytes());
    let options = ListOptions { file: Some("night.csv"), ..ListOptions::default() };
    let listing = list(&store(dir.path()), DatasetKind::Manifest, &options).await.unwrap();
    let got: Vec<(&str, &str, u8)> = listing.images.iter().map(|r| (r.path.as_str(), r.category.as_str(), r.label)).collect();
    let outside = outside.display().to_string();
    assert_eq!(got, [(outside.as_str(), "night", 1), ("frames/a.png", "pipes", 0), ("frames/b.PNG", "pipes", 1)], "absolute URIs pass through; the category defaults to the file's stem");

    write(dir.path(), "bad.csv", b"uri,label\nframes/a.png,maybe\n");
    let e = list(&store(dir.path()), DatasetKind::Manifest, &ListOptions { file: Some("bad.csv"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("bad.csv, line 2, column label") && e.contains("\"maybe\""), "{e}");
    write(dir.path(), "gone.csv", b"uri,label\nframes/a.png,0\nframes/gone.png,1\n");
    let e = list(&store(dir.path()), DatasetKind::Manifest, &ListOptions { file: Some("gone.csv"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("gone.csv, line 3, column uri") && e.contains("frames/gone.png"), "{e}");
    write(dir.path(), "extra.csv", b"uri,label,score\nframes/a.png,0,1\n");
    let e = list(&store(dir.path()), DatasetKind::Manifest, &ListOptions { file: Some("extra.csv"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("column score"), "{e}");
    write(dir.path(), "unlabelled.csv", b"uri\nframes/a.png\n");
    let e = list(&store(dir.path()), DatasetKind::Manifest, &ListOptions { file: Some("unlabelled.csv"), ..ListOptions::default() }).await.unwrap_err().to_string();
    assert!(e.contains("line 2, column label") && e.contains("labelled"), "{e}");

    // The same rows as Parquet, written by pyarrow with integer labels.
    let parquet = dir.path().join("night.parquet");
    rwclip_test_support::python::run(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         pq.write_table(pa.table({'uri': ['frames/a.png', 'frames/b.PNG', sys.argv[2], 'frames/a.png'], 'label': pa.array([0, 1, 1, 0], pa.int64()),\n\
         'category': ['pipes', 'pipes', None, 'pipes'], 'split': ['test', 'test', 'test', 'train']}), sys.argv[1])\n",
        &[parquet.to_str().unwrap(), &outside],
    );
    let from_parquet = list(&store(dir.path()), DatasetKind::Manifest, &ListOptions { file: Some("night.parquet"), ..ListOptions::default() }).await.unwrap();
    assert_eq!(from_parquet.images, listing.images);
}
