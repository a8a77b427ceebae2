"""Parses Prometheus' text exposition format from stdin with prometheus_client's own
parser (tests/api/metrics.rs), printing each family's name and type, one a line. A text
the parser refuses fails with its error."""

import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    # Touch every sample: the parser is lazy, and a bad line fails only when read.
    samples = list(family.samples)
    print(f"{family.name} {family.type}")
    print(f"  {len(samples)} samples", file=sys.stderr)
