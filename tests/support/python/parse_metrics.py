"""Parses Prometheus text format with prometheus_client's parser (what a
Prometheus-compatible scraper reads) from stdin; prints the families as
JSON: {name: {"type": ..., "samples": [[sample name, labels, value], ...]}}."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {"type": family.type, "samples": [[s.name, s.labels, s.value] for s in family.samples]}
print(json.dumps(out))
