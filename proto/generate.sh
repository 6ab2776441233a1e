#!/usr/bin/env bash
# Regenerate jobgraph/klio_pb2.py from proto/klio.proto with the pinned grpcio-tools' protoc.
# The generated module lives in jobgraph/, not in a `proto` package: the import name `proto`
# belongs to proto-plus, which google-cloud-pubsub needs, and a package of ours would shadow it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
INC=$("$PY" -c "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))")
"$PY" -m grpc_tools.protoc -Iproto -I"$INC" --python_out=jobgraph proto/klio.proto
# protoc names the module after the file; pickling and Beam's coders need its real import path.
sed -i "s/'klio_pb2'/'jobgraph.klio_pb2'/" jobgraph/klio_pb2.py
