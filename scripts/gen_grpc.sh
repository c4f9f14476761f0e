#!/usr/bin/env bash
# Generates golive/users/v1/ (messages, gRPC stubs, and their type stubs for mypy --strict)
# from proto/golive/users/v1/users.proto with grpcio-tools and mypy-protobuf (the test extras).
# With --check, generates into a temporary folder and fails if the committed code differs:
# scripts/test.sh runs that, so the code never drifts from the .proto.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
out=.
check=false
if [ "${1:-}" = "--check" ]; then
  check=true
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
# protoc-gen-mypy and protoc-gen-mypy_grpc are mypy-protobuf's plugins, beside the interpreter.
bin=$(dirname "$PYTHON")
"$PYTHON" -m grpc_tools.protoc -I proto \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" --mypy_out="$out" --mypy_grpc_out="$out" \
  proto/golive/users/v1/users.proto
if $check; then
  if ! diff -r -x __init__.py -x __pycache__ "$out/golive/users/v1" golive/users/v1; then
    echo "golive/users/v1 is not what proto/golive/users/v1/users.proto generates:" \
      "run scripts/gen_grpc.sh and commit the result" >&2
    exit 1
  fi
  echo "generated gRPC code is current"
fi
