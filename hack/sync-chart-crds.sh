#!/usr/bin/env bash
# Copies the CRDs (source of truth: manifests/crds/) into the chart's crds/ folder,
# which Helm installs before the templates. tests/charts/test_crds.py fails while
# the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f charts/crawlfleet/crds/*.yaml
cp manifests/crds/*.yaml charts/crawlfleet/crds/
echo "charts/crawlfleet/crds/ now holds: $(cd charts/crawlfleet/crds && ls | tr '\n' ' ')" >&2
