# Worker image for Dataflow (custom container): the Beam Python SDK base of the pinned Beam
# version and Python, the project installed, a non-root user. Same code as local runs.
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/video-iab:TAG .
#   klio job run -O pipeline_options.runner=DataflowRunner \
#       -O pipeline_options.sdk_container_image=REGION-docker.pkg.dev/PROJECT/REPO/video-iab:TAG ...
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/video-iab
COPY pyproject.toml README.md run.py klio-job.yaml ./
COPY jobgraph ./jobgraph
COPY transforms ./transforms
COPY model ./model
COPY proto ./proto
RUN pip install --no-cache-dir . \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin worker \
 && mkdir -p /home/worker/.cache && chown -R worker /home/worker
USER worker
ENV KERAS_HOME=/home/worker/.cache/keras

# The Beam SDK harness entry point of the base image.
ENTRYPOINT ["/opt/apache/beam/boot"]
