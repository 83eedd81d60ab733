"""Shared helpers for the reference-output scripts (run by `make reference`).

Each script `tests/reference/NAME.py` takes `--out DIR` and writes what the Rust
tests compare against into DIR (= target/reference/NAME). Scripts use the
reference implementations (open_clip, scikit-learn) only; nothing here runs in
production paths.
"""
import argparse
import json
import os


def out_dir(description: str) -> str:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args.out


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
