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

# Optional: bake the converted embedder into the image so workers start in seconds without
# building the Keras model (fetches the ImageNet weights at build time; calibration/ holds a
# handful of sample uploads for the int8 calibration, COPY it in first). Point
# embedder.backend/cache_dir at it in klio-job.yaml (or -O) and uncomment:
# RUN klio features convert -c klio-job.yaml \
#       -O video-features:job_config.embedder.weights=imagenet -O video-features:job_config.embedder.seed=null \
#       -O video-features:job_config.embedder.backend=openvino-int8 \
#       -O video-features:job_config.embedder.calibration_videos=calibration/ \
#       -O video-features:job_config.embedder.cache_dir=/home/worker/.cache/embed-backends

# The Beam SDK harness entry point of the base image.
ENTRYPOINT ["/opt/apache/beam/boot"]
