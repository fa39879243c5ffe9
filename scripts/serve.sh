#!/usr/bin/env bash
# Set everything up, then serve the embedded example model repository.
# Extra arguments go to `tritoncore serve` (e.g. --http-port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tritoncore serve --model-repository examples/model_repository "$@"
