"""NeXtVLAD (Lin, Xiao & Fan 2018) and the video-level model around it, in Keras 3.

Faithful to the paper author's code (linrongc/youtube-8m `nextvlad.py`): expansion FC with bias, sigmoid group attention, soft
assignment = softmax_K(BN(x W)) without bias (BN over every row, padded frames included, as
the reference does), frame mask, residual aggregation against anchors c_k, intra-L2 over d,
flatten feature-major (j*K + k), BN, no global L2. In inference mode every BatchNormalization
uses its moving statistics, so a padded frame (mask 0) contributes nothing: padding changes
no output. In training mode the cluster BN batch statistics include padded rows, exactly as
the reference.

Model: [video NeXtVLAD | audio NeXtVLAD] -> dropout -> (+ metadata vector) -> FC no bias -> BN
(no ReLU) -> SE context gating -> logistic head (sigmoid probabilities).
"""
from __future__ import annotations

import keras
from keras import layers, ops

from model.classifier.config import AUDIO, METADATA, NUM_FRAMES, RGB, ModelConfig, StreamConfig


def _initializer(seed: int | None) -> keras.initializers.Initializer:
    # slim.variance_scaling_initializer(): factor 2, FAN_IN, truncated normal == he_normal.
    return keras.initializers.HeNormal(seed=seed)


@keras.saving.register_keras_serializable(package="video_iab")
class NeXtVLAD(layers.Layer):
    """NeXtVLAD aggregation of a padded frame sequence into one video descriptor.

    Call with `[frames, num_frames]`:
        frames: float32[B, T, N] (rows >= num_frames are padding, any finite value);
        num_frames: int[B], valid frames per video.
    Returns float32[B, d*K] with d = expansion*N/groups, flat index j*K + k.
    """

    def __init__(self, feature_size: int, cluster_size: int, groups: int, expansion: int,
                 bn_momentum: float = 0.999, bn_epsilon: float = 1e-3, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.feature_size = feature_size
        self.cluster_size = cluster_size
        self.groups = groups
        self.expansion = expansion
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.seed = seed
        self.expanded_size = expansion * feature_size
        if self.expanded_size % groups:
            raise ValueError(f"NeXtVLAD: expansion*feature_size ({self.expanded_size}) must be "
                             f"divisible by groups ({groups})")
        self.group_size = self.expanded_size // groups
        seeds = [None] * 4 if seed is None else [seed + i for i in range(4)]
        self.expand = layers.Dense(self.expanded_size, kernel_initializer=_initializer(seeds[0]),
                                   name="expand")
        self.attention = layers.Dense(groups, activation="sigmoid",
                                      kernel_initializer=_initializer(seeds[1]), name="attention")
        self.cluster_bn = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                    name="cluster_bn")
        self.vlad_bn = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                 name="vlad_bn")
        self._weight_seeds = seeds[2:]

    def build(self, input_shape):
        frames_shape = input_shape[0]
        if frames_shape[-1] != self.feature_size:
            raise ValueError(f"NeXtVLAD: frames have {frames_shape[-1]} features, "
                             f"layer expects feature_size={self.feature_size}")
        self.expand.build(frames_shape)
        self.attention.build((None, None, self.expanded_size))
        self.cluster_weights = self.add_weight(
            shape=(self.expanded_size, self.groups * self.cluster_size),
            initializer=_initializer(self._weight_seeds[0]), name="cluster_weights")
        self.cluster_bn.build((None, self.groups * self.cluster_size))
        self.cluster_weights2 = self.add_weight(
            shape=(1, self.group_size, self.cluster_size),
            initializer=_initializer(self._weight_seeds[1]), name="cluster_weights2")
        self.vlad_bn.build((None, self.group_size * self.cluster_size))

    def call(self, inputs, training=None):
        frames, num_frames = inputs
        shape = ops.shape(frames)
        batch, steps = shape[0], shape[1]
        k, g, d = self.cluster_size, self.groups, self.group_size
        mask = ops.cast(ops.arange(steps)[None, :] < ops.cast(num_frames, "int32")[:, None],
                        frames.dtype)                                       # (B, T)
        expanded = self.expand(frames)                                      # (B, T, lN)
        attention = self.attention(expanded) * mask[:, :, None]             # (B, T, G)
        attention = ops.reshape(attention, (batch, steps * g, 1))           # (B, T*G, 1)
        logits = ops.matmul(ops.reshape(expanded, (-1, self.expanded_size)),
                            self.cluster_weights)                           # (B*T, G*K)
        logits = self.cluster_bn(logits, training=training)
        assignment = ops.softmax(ops.reshape(logits, (batch, steps * g, k)), axis=-1)
        assignment = assignment * attention                                 # (B, T*G, K)
        a_sum = ops.sum(assignment, axis=-2, keepdims=True)                 # (B, 1, K)
        anchors = a_sum * self.cluster_weights2                             # (B, d, K)
        grouped = ops.reshape(expanded, (batch, steps * g, d))              # (B, T*G, d)
        vlad = ops.transpose(ops.matmul(ops.transpose(assignment, (0, 2, 1)), grouped),
                             (0, 2, 1)) - anchors                           # (B, d, K)
        # tf.nn.l2_normalize(vlad, axis=1): x / sqrt(max(sum x^2, 1e-12))
        vlad = vlad * ops.rsqrt(ops.maximum(ops.sum(ops.square(vlad), axis=1, keepdims=True),
                                            1e-12))
        vlad = ops.reshape(vlad, (batch, d * k))
        return self.vlad_bn(vlad, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.group_size * self.cluster_size)

    def get_config(self):
        config = super().get_config()
        config.update(feature_size=self.feature_size, cluster_size=self.cluster_size,
                      groups=self.groups, expansion=self.expansion, bn_momentum=self.bn_momentum,
                      bn_epsilon=self.bn_epsilon, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="video_iab")
class ContextGating(layers.Layer):
    """NeXtVLAD's SE context gating: out = h * sigmoid(W2 relu(BN(W1 h))), no biases.

    float32[B, H] -> float32[B, H]; W1 is [H, H/r], W2 is [H/r, H].
    """

    def __init__(self, reduction: int, bn_momentum: float = 0.999, bn_epsilon: float = 1e-3,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.seed = seed
        self.gating_bn = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                   name="gating_bn")

    def build(self, input_shape):
        hidden = input_shape[-1]
        if hidden % self.reduction:
            raise ValueError(f"ContextGating: reduction {self.reduction} must divide width {hidden}")
        seeds = (None, None) if self.seed is None else (self.seed, self.seed + 1)
        self.squeeze = layers.Dense(hidden // self.reduction, use_bias=False,
                                    kernel_initializer=_initializer(seeds[0]), name="gating_weights_1")
        self.excite = layers.Dense(hidden, use_bias=False, activation="sigmoid",
                                   kernel_initializer=_initializer(seeds[1]), name="gating_weights_2")
        self.squeeze.build(input_shape)
        self.gating_bn.build((None, hidden // self.reduction))
        self.excite.build((None, hidden // self.reduction))

    def call(self, hidden, training=None):
        gates = ops.relu(self.gating_bn(self.squeeze(hidden), training=training))
        return hidden * self.excite(gates)

    def get_config(self):
        config = super().get_config()
        config.update(reduction=self.reduction, bn_momentum=self.bn_momentum,
                      bn_epsilon=self.bn_epsilon, seed=self.seed)
        return config


def _stream(config: ModelConfig, stream: StreamConfig, name: str, seed: int | None) -> NeXtVLAD:
    return NeXtVLAD(stream.feature_size, stream.cluster_size, stream.groups, stream.expansion,
                    bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon, seed=seed,
                    name=name)


def model_inputs(config: ModelConfig) -> dict[str, keras.KerasTensor]:
    """The model's named inputs: rgb float32[B,T,N], num_frames int32[B],
    audio float32[B,T,N_audio] (when configured), metadata float32[B,M] (when enabled)."""
    inputs = {
        RGB: keras.Input((config.max_frames, config.rgb.feature_size), name=RGB),
        NUM_FRAMES: keras.Input((), dtype="int32", name=NUM_FRAMES),
    }
    if config.audio is not None:
        inputs[AUDIO] = keras.Input((config.max_frames, config.audio.feature_size), name=AUDIO)
    if config.metadata_enabled:
        inputs[METADATA] = keras.Input((config.metadata.width,), name=METADATA)
    return inputs


def build_model(config: ModelConfig, seed: int | None = None) -> keras.Model:
    """The NeXtVLAD video classifier of `config`.

    Inputs: see `model_inputs`. Output: float32[B, num_classes] sigmoid probabilities.
    `seed` makes initialisation reproducible (None = random).
    """
    def sub(i: int) -> int | None:
        return None if seed is None else seed + 100 * i

    inputs = model_inputs(config)
    parts = [_stream(config, config.rgb, "video_vlad", sub(1))([inputs[RGB], inputs[NUM_FRAMES]])]
    if config.audio is not None:
        parts.append(_stream(config, config.audio, "audio_vlad", sub(2))(
            [inputs[AUDIO], inputs[NUM_FRAMES]]))
    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="concat")(parts)
    x = layers.Dropout(config.dropout, seed=sub(3), name="dropout")(x)
    if config.metadata_enabled:
        # After the dropout: the reference's dropout regularises the VLAD descriptor; dropping
        # half of a one-hot metadata code would only add noise.
        x = layers.Concatenate(name="with_metadata")([x, inputs[METADATA]])
    hidden = layers.Dense(config.hidden_size, use_bias=False, kernel_initializer=_initializer(sub(4)),
                          name="hidden1")(x)
    hidden = layers.BatchNormalization(momentum=config.bn_momentum, epsilon=config.bn_epsilon,
                                       name="hidden1_bn")(hidden)
    gated = ContextGating(config.gating_reduction, config.bn_momentum, config.bn_epsilon,
                          seed=sub(5), name="context_gating")(hidden)
    # slim.l2_regularizer(s) adds s*sum(w^2)/2; keras l2(l) adds l*sum(w^2).
    l2 = keras.regularizers.L2(config.train.l2_penalty / 2.0)
    probabilities = layers.Dense(config.num_classes, activation="sigmoid",
                                 kernel_initializer=_initializer(sub(6)), kernel_regularizer=l2,
                                 bias_regularizer=l2, name="logistic")(gated)
    return keras.Model(inputs=inputs, outputs=probabilities, name=config.name)


def count_params(model: keras.Model) -> dict[str, int]:
    """Trainable, non-trainable (BN moving statistics) and total parameter counts."""
    trainable = sum(int(ops.size(w)) for w in model.trainable_weights)
    non_trainable = sum(int(ops.size(w)) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}
