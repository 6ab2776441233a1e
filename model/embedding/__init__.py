"""The frame embedder: Inception-v3 (2048-d average-pool features) on one of several backends.

    embedder = load_embedder(EmbedderConfig(weights="imagenet", backend="openvino-int8"), calibration)
    features = embedder.embed(frames)          # uint8[N,299,299,3] RGB -> float32[N,2048]

constants   shapes (299 x 299 RGB in, 2048 out)       config     EmbedderConfig, EmbedderInfo
inception   the Keras network, its weights, scaling    embedder   the one Embedder
backends    create_backend (Keras fp32/bf16, OpenVINO fp32/bf16/int8)
handler     load_embedder, the RunInference handler    quality    reduced-precision quality guard
"""
from model.embedding.config import EmbedderConfig, EmbedderInfo
from model.embedding.constants import DIM, INPUT_SIZE, NAME
from model.embedding.embedder import Embedder

__all__ = ["DIM", "INPUT_SIZE", "NAME", "Embedder", "EmbedderConfig", "EmbedderInfo"]
