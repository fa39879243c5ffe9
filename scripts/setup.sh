#!/usr/bin/env bash
# Create .venv (if missing) and install every package of this repository into it, editable,
# with the test tools. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.tritoncore-setup
inputs=$(cat pyproject.toml plugins/*/pyproject.toml sdk/pyproject.toml \
    examples/identity_backend/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet \
        -e '.[test]' \
        -e plugins/python -e plugins/pytorch -e plugins/onnx -e plugins/tensorrt \
        -e sdk \
        -e examples/identity_backend \
        'grpcio-tools==1.85.1'
    echo "$inputs" > "$stamp"
fi
