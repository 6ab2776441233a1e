"""The audio embedder: VGGish (128-d log-mel embeddings, postprocessed by its PCA) on two backends.

    embedder = load_audio_embedder(AudioEmbedderConfig(weights="seeded", seed=0))
    features = embedder.embed(windows)          # float32[N,15600] 16 kHz -> float32[N,128]

constants     shapes (15,600-sample windows, 96 x 64 log-mel, 128 out)
mel           log_mel_examples: the numpy front end           config      AudioEmbedderConfig
vggish        the Keras network, its weights, build_network   checkpoint  TF1 checkpoint -> .weights.h5
postprocess   VGGishPCA: the published PCA file, derive_pca    calibration generated calibration audio
backends      create_backend (keras-fp32, openvino-fp32)      embedder    the one AudioEmbedder
handler       load_audio_embedder, the RunInference handler
"""
from model.audio.config import AudioEmbedderConfig
from model.audio.constants import DIM, NAME, SAMPLE_RATE, WINDOW_SAMPLES
from model.audio.embedder import AudioEmbedder, AudioEmbedderInfo

__all__ = ["DIM", "NAME", "SAMPLE_RATE", "WINDOW_SAMPLES", "AudioEmbedder", "AudioEmbedderConfig",
           "AudioEmbedderInfo"]
