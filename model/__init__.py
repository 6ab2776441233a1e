"""The models, pure: nothing here imports the runtime (jobgraph/) or the Beam steps (transforms/).

embedding/   Inception-v3 frame embedder on Keras or OpenVINO backends, its RunInference handler
features/    PCA + YouTube-8M quantisation, and the feature-file format (codec) every part reads
classifier/  NeXtVLAD model, training, evaluation, calibration, metrics, serving, its handler
taxonomy/    IAB Content Taxonomy 3.0 and the visual subset a model predicts
cli.py       `klio model ...` (describe, train, evaluate, calibrate, synth)
"""
