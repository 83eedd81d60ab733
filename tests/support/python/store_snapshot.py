"""Snapshot of an rwclip store as pyarrow sees it (tests/support/src/store_snapshot.rs):
every file with its SHA-256, every Parquet file's row count, committed manifests and
the committed trials' metric rows, printed as one JSON document."""
import sys, json, hashlib
import pyarrow.parquet as pq, pyarrow.fs as pafs
uri, endpoint = sys.argv[1], sys.argv[2]
if uri.startswith("s3://"):
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    root = uri[len("s3://"):].rstrip("/")
else:
    fs = pafs.LocalFileSystem()
    root = uri.rstrip("/")
infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
files = sorted(i.path[len(root) + 1:] for i in infos if i.type == pafs.FileType.File)
def read(key):
    with fs.open_input_stream(root + "/" + key) as s:
        return s.read()
def canon(v):
    if isinstance(v, float):
        return v.hex()
    if isinstance(v, list):
        return [canon(x) for x in v]
    return v
out = {"files": files, "sha256": {}, "parquet_rows": {}, "manifests": {}, "trial_rows": []}
for f in files:
    data = read(f)
    out["sha256"][f] = hashlib.sha256(data).hexdigest()
    if f.endswith(".parquet"):
        out["parquet_rows"][f] = pq.read_table(root + "/" + f, filesystem=fs).num_rows
    if f.startswith("shards/") and f.endswith("/manifest.json"):
        m = json.loads(data)
        out["manifests"][m["shard"]] = {"kind": m["kind"], "worker": m["worker"], "attempt": m["attempt"], "parts": m["parts"]}
        if m["kind"] == "trial":
            for p in m["parts"]:
                if p.endswith("metrics.parquet"):
                    for row in pq.read_table(root + "/" + p, filesystem=fs).to_pylist():
                        out["trial_rows"].append(json.dumps({k: canon(v) for k, v in row.items()}, sort_keys=True))
out["trial_rows"].sort()
print(json.dumps(out))
