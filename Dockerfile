# syntax=docker/dockerfile:1
# Worker image for Dataflow (custom container): the Beam Python SDK base of the pinned Beam
# version and Python, the runtime lock, the project. Same code as local runs. Runs as root, as
# the base image does: Beam's boot (the required entrypoint) writes under /opt/apache/beam-venv
# (README "Running on Dataflow").
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/video-iab:TAG .
#   docker build --build-arg EMBEDDER_WEIGHTS=imagenet --build-arg CALIBRATION_VIDEOS=calibration -t ... .
#   klio job run -O pipeline_options.runner=DataflowRunner \
#       -O pipeline_options.sdk_container_image=REGION-docker.pkg.dev/PROJECT/REPO/video-iab:TAG ...
# The FROM tag's Beam and Python must equal the apache-beam pin and the lock's Python
# (tests/test_packaging.py checks it).
FROM apache/beam_python3.11_sdk:2.77.0 AS app

WORKDIR /opt/video-iab
ENV KERAS_HOME=/opt/video-iab/baked/keras

# Dependencies first, from the runtime lock alone, so a source edit reuses this layer. Every
# package is pinned and hashed (--no-deps: the lock is the whole set); the image's own
# apache-beam is a constraint, so a lock naming another Beam fails here instead of replacing
# the SDK; pip check proves the result consistent with what the image already had.
COPY requirements/runtime.txt requirements/runtime.txt
RUN python -c "from importlib.metadata import version; print('apache-beam==' + version('apache-beam'))" \
      > /tmp/beam-constraint.txt \
 && pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt -c /tmp/beam-constraint.txt \
 && pip check

# The project itself, without dependencies (setuptools and wheel come from the lock).
COPY pyproject.toml README.md run.py klio-job.yaml ./
COPY jobgraph ./jobgraph
COPY transforms ./transforms
COPY model ./model
COPY proto ./proto
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check

# Optional bake: --build-arg EMBEDDER_WEIGHTS=imagenet (downloaded here) or a weights file in
# the build context. Converts the embedder of JOB_CONFIG, and its audio embedder when it has one
# (into baked/audio-cache: set the job's audio.cache_dir to it) (EMBEDDER_BACKEND; int8 calibrates on the
# videos of CALIBRATION_VIDEOS, a folder in the build context) with the 'convert' extra, in this
# stage only. The final image gets /opt/video-iab/baked: the conversion cache and what a worker
# computes its cache key from (the weights file, the calibration videos). Empty: nothing is baked.
FROM app AS bake
ARG EMBEDDER_WEIGHTS=
ARG EMBEDDER_BACKEND=openvino-int8
ARG CALIBRATION_VIDEOS=
ARG JOB_CONFIG=klio-job.yaml
RUN --mount=type=bind,target=/tmp/context \
    set -eu; mkdir -p baked; \
    if [ -z "$EMBEDDER_WEIGHTS" ]; then exit 0; fi; \
    pip install --no-cache-dir --require-hashes --no-deps -r /tmp/context/requirements/convert.txt; \
    pip check; \
    weights="$EMBEDDER_WEIGHTS"; \
    if [ "$weights" = imagenet ]; then \
      python -c "import keras; keras.applications.InceptionV3(weights='imagenet', include_top=False)"; \
    else \
      mkdir -p baked/weights; cp "/tmp/context/$weights" baked/weights/; \
      weights="$PWD/baked/weights/$(basename "$weights")"; \
    fi; \
    calibration=null; \
    if [ -n "$CALIBRATION_VIDEOS" ]; then \
      cp -r "/tmp/context/$CALIBRATION_VIDEOS" baked/calibration; calibration="$PWD/baked/calibration"; \
    fi; \
    klio features convert -c "/tmp/context/$JOB_CONFIG" \
      -O "video-features:job_config.embedder.weights=$weights" \
      -O video-features:job_config.embedder.seed=null \
      -O "video-features:job_config.embedder.backend=$EMBEDDER_BACKEND" \
      -O "video-features:job_config.embedder.calibration_videos=$calibration" \
      -O "video-features:job_config.embedder.cache_dir=$PWD/baked/embed-cache" \
      --audio-cache-dir "$PWD/baked/audio-cache"

FROM app AS worker
COPY --from=bake /opt/video-iab/baked ./baked

# The Beam SDK harness entry point of the base image.
ENTRYPOINT ["/opt/apache/beam/boot"]
