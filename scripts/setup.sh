#!/usr/bin/env bash
# Create .venv (if missing) and install every package of this repository into it, editable,
# with the test tools; the sample third-party backend (examples/identity_backend) is installed
# like a stranger's package, not editable. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interpreter: $PYTHON; else the system's python3 when it is 3.10+ with venv (a
# distribution's build, compiled with PGO and LTO: on the 2-vCPU VM it costs the server and
# its stubs ~15-20% less CPU a request than pyenv's default build, benchmarks/README.md);
# else the first python3 on PATH. An existing .venv keeps the interpreter it was made with.
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif /usr/bin/python3 -c 'import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 10))' \
        2>/dev/null; then
    PY=/usr/bin/python3
else
    PY=python3
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.tritoncore-setup
inputs=$(cat pyproject.toml plugins/*/pyproject.toml sdk/pyproject.toml \
    examples/identity_backend/pyproject.toml examples/identity_backend/tritoncore_identity/*.py \
    scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ]; then
    log=.venv/setup.log
    echo "setup: installing into .venv (log: $log)"
    if ! { .venv/bin/python -m pip install --upgrade pip &&
        .venv/bin/python -m pip install \
        -e '.[test]' \
        -e plugins/python -e 'plugins/pytorch[test]' -e 'plugins/onnx[test]' -e plugins/tensorrt \
        'torch==2.13.0' \
        -e sdk \
        ./examples/identity_backend; } >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "setup: pip failed; the whole log is $log" >&2
        exit 1
    fi
    echo "$inputs" > "$stamp"
fi
# Example models built at set-up (random weights, git-ignored); only missing ones are built.
.venv/bin/python -W ignore scripts/make_example_models.py
