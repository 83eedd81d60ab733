#!/usr/bin/env python3
"""Fails when a workspace crate depends on something its layer forbids.

Reads the resolved dependency graph from `cargo metadata` (normal
dependencies, followed transitively; dev- and build-dependencies do not
reach a binary) and checks two kinds of rule, written down in
docs/architecture.md:

- layers: a crate under common/ may depend only on the rwclip crates below
  it (LAYERS lists each one's allowed rwclip dependencies);
- forbidden: what a crate must never link, however indirectly (the job file
  without an async runtime or an object store, metrics without Arrow, the
  coordinator without libtorch, the tokenizer, image codecs or FFmpeg).

`--self-test` checks that a forbidden edge added to the real graph is
reported, so the check cannot pass by reading nothing.
"""

import json
import subprocess
import sys

# Each shared crate and the rwclip crates it may depend on (directly or not).
LAYERS = {
    "rwclip-core": set(),
    "rwclip-metrics": set(),
    "rwclip-job": {"rwclip-core"},
    "rwclip-store": {"rwclip-core"},
    "rwclip-figures": {"rwclip-core"},
    "rwclip-artifacts": {"rwclip-core", "rwclip-store", "rwclip-metrics"},
    "rwclip-datasets": {"rwclip-core", "rwclip-job", "rwclip-store"},
    "rwclip-plan": {"rwclip-core", "rwclip-job", "rwclip-store", "rwclip-datasets"},
    "rwclip-scoring": {"rwclip-core", "rwclip-job", "rwclip-store", "rwclip-metrics", "rwclip-artifacts", "rwclip-datasets", "rwclip-plan"},
    "rwclip-report": {"rwclip-core", "rwclip-job", "rwclip-store", "rwclip-metrics", "rwclip-artifacts", "rwclip-datasets", "rwclip-plan", "rwclip-scoring", "rwclip-figures"},
    "rwclip-inputs": {"rwclip-core", "rwclip-job", "rwclip-store", "rwclip-datasets"},
}

LIBTORCH = {"tch", "torch-sys"}
CODECS = {"image", "mozjpeg-sys", "fast_image_resize", "ffmpeg-next", "ffmpeg-sys-next", "tokenizers"}
MODEL_SIDE = {"rwclip-inputs", "rwclip-engine", "rwclip-video", "rwclip-decoder"}

FORBIDDEN = {
    "rwclip-core": {"tokio", "object_store", "arrow-array", "parquet", "plotters"} | LIBTORCH | CODECS,
    "rwclip-job": {"tokio", "object_store", "arrow-array", "parquet", "plotters"} | LIBTORCH | CODECS,
    "rwclip-metrics": {"arrow-array", "arrow-schema", "parquet", "tokio", "object_store"} | LIBTORCH | CODECS,
    "rwclip-store": {"arrow-array", "parquet", "plotters"} | LIBTORCH | CODECS,
    "rwclip-figures": {"tokio", "object_store", "arrow-array", "parquet"} | LIBTORCH | CODECS,
    "rwclip-plan": {"plotters"} | LIBTORCH | CODECS,
    "rwclip-scoring": {"plotters"} | LIBTORCH | CODECS,
    "rwclip-report": LIBTORCH | CODECS,
    "rwclip-coordinator": LIBTORCH | CODECS | MODEL_SIDE,
    "rwclip-video": LIBTORCH | CODECS,
    "rwclip-engine": {"ffmpeg-next", "ffmpeg-sys-next", "rwclip-report"},
}


def graph():
    run = subprocess.run(["cargo", "metadata", "--format-version", "1"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("layering: cargo metadata failed:\n" + run.stderr)
    meta = json.loads(run.stdout)
    names = {p["id"]: p["name"] for p in meta["packages"]}
    members = {names[i] for i in meta["workspace_members"]}
    edges = {}
    for node in meta["resolve"]["nodes"]:
        deps = set()
        for d in node["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):
                deps.add(names[d["pkg"]])
        edges[names[node["id"]]] = edges.get(names[node["id"]], set()) | deps
    return members, edges


def reach(edges, start):
    """Every package `start` links, each with the path that brings it in."""
    seen = {start: [start]}
    todo = [start]
    while todo:
        n = todo.pop()
        for d in sorted(edges.get(n, ())):
            if d not in seen:
                seen[d] = seen[n] + [d]
                todo.append(d)
    del seen[start]
    return seen


def violations(members, edges):
    out = []
    for crate in sorted(members):
        linked = reach(edges, crate)
        if crate in LAYERS:
            for dep in sorted(d for d in linked if d.startswith("rwclip-")):
                if dep not in LAYERS[crate]:
                    out.append(f"{crate} depends on {dep}, above or beside its layer: {' -> '.join(linked[dep])}")
        for dep in sorted(FORBIDDEN.get(crate, set()) & set(linked)):
            out.append(f"{crate} links {dep}, which its layer forbids: {' -> '.join(linked[dep])}")
    missing = (set(LAYERS) | set(FORBIDDEN)) - members
    out += [f"{c} is named by the layer rules but is not a workspace member" for c in sorted(missing)]
    return out


def main():
    members, edges = graph()
    if "--self-test" in sys.argv:
        edges["rwclip-core"] = edges["rwclip-core"] | {"tokio"}
        edges["rwclip-job"] = edges["rwclip-job"] | {"rwclip-plan"}
        found = violations(members, edges)
        expect = ["rwclip-core links tokio", "rwclip-job depends on rwclip-plan", "rwclip-job links object_store"]
        lost = [e for e in expect if not any(v.startswith(e) for v in found)]
        if lost:
            print("layer check self-test: not reported: " + "; ".join(lost), file=sys.stderr)
            return 1
        print(f"layer check self-test: {len(found)} planted violations reported")
        return 0
    found = violations(members, edges)
    for v in found:
        print("layering: " + v, file=sys.stderr)
    if found:
        print("see docs/architecture.md for what each layer may link", file=sys.stderr)
        return 1
    print(f"layering: {len(members)} crates, every dependency within its layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
