#!/usr/bin/env bash
# Regenerate the protobuf modules with the pinned grpcio-tools' protoc:
#   proto/klio.proto             -> jobgraph/klio_pb2.py
#   proto/sequence_example.proto -> model/features/sequence_example_pb2.py
# The generated modules live next to their users, not in a `proto` package: the import name
# `proto` belongs to proto-plus, which google-cloud-pubsub needs, and a package of ours would
# shadow it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
INC=$("$PY" -c "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))")
generate() {  # proto file, output package directory, module import path
  "$PY" -m grpc_tools.protoc -Iproto -I"$INC" --python_out="$2" "proto/$1"
  # protoc names the module after the file; pickling and Beam's coders need its real import path.
  local module="${1%.proto}_pb2"
  sed -i "s/'$module'/'$3'/" "$2/$module.py"
}
generate klio.proto jobgraph jobgraph.klio_pb2
generate sequence_example.proto model/features model.features.sequence_example_pb2
