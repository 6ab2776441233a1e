"""Training: YouTube-8M-format TFRecords in, a model directory (model/classifier/artifacts.py) out.

Recipe of the paper author's training code: sigmoid cross-entropy on the
probabilities summed over classes and averaged over the batch (eps 1e-8), Adam (eps from the
config, 1e-8) with per-tensor gradient clipping (clipnorm), learning rate
lr * decay_rate^floor(examples / decay_examples), L2 on the logistic head only.

Checkpoints: after every epoch the full model with its optimizer state goes to
{model_dir}/checkpoints/last.keras and the epoch to state.json. Training again into the same
directory resumes from there, and refuses (ResumeMismatchError) when the stored config differs
from the requested one in anything but train.epochs. `write_training_plot` draws history.json
(loss, validation GAP@20 per epoch) into {model_dir}/training_curves.png (`klio model train`).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from model.classifier import artifacts, data, metrics
from model.classifier.config import ModelConfig, TrainConfig, config_from_dict, dump_config
from model.classifier.nextvlad import build_model
from model.taxonomy import model_categories

CHECKPOINT_FILE = "last.keras"
CURVES_PNG = "training_curves.png"  # loss and validation GAP per epoch, next to history.json
STATE_FILE = "state.json"
LOSS_EPSILON = 1e-8


class ResumeMismatchError(ValueError):
    """The model directory holds a different config than the one asked for."""


@keras.saving.register_keras_serializable(package="video_iab")
def summed_cross_entropy(labels, probabilities):
    """mean_b sum_c -[y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8)]  (reference CrossEntropyLoss).

    labels, probabilities: float32[B, C] -> float32[B] (Keras averages over the batch).
    """
    labels = tf.cast(labels, probabilities.dtype)
    loss = -(labels * tf.math.log(probabilities + LOSS_EPSILON)
             + (1.0 - labels) * tf.math.log(1.0 - probabilities + LOSS_EPSILON))
    return tf.reduce_sum(loss, axis=-1)


def learning_rate_schedule(train: TrainConfig) -> keras.optimizers.schedules.ExponentialDecay:
    """Staircase decay by decay_rate every decay_examples examples (step = one batch)."""
    return keras.optimizers.schedules.ExponentialDecay(
        train.learning_rate, decay_steps=train.decay_examples / train.batch_size,
        decay_rate=train.decay_rate, staircase=True)


def make_optimizer(train: TrainConfig) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=learning_rate_schedule(train), beta_1=0.9,
                                 beta_2=0.999, epsilon=train.adam_epsilon, clipnorm=train.clipnorm)


def compile_model(model: keras.Model, config: ModelConfig) -> keras.Model:
    model.compile(optimizer=make_optimizer(config.train), loss=summed_cross_entropy)
    return model


@dataclass
class TrainResult:
    model: keras.Model
    history: list[dict]
    model_dir: str
    resumed_from_epoch: int


class _Checkpoint(keras.callbacks.Callback):
    """Saves model + optimizer, the epoch history and state.json after every epoch."""

    def __init__(self, model_dir: str, history: list[dict], validation: Callable[[], float] | None):
        super().__init__()
        self.model_dir = model_dir
        self.history = history
        self.validation = validation

    diverged_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        if not np.isfinite(row.get("loss", 0.0)):
            self.diverged_at = epoch + 1  # keep the last good checkpoint
            return
        if self.validation is not None:
            row["validation_gap_at_20"] = self.validation()
        self.history.append(row)
        directory = os.path.join(self.model_dir, artifacts.CHECKPOINT_DIR)
        artifacts.replace_atomically(os.path.join(directory, CHECKPOINT_FILE), self.model.save)
        artifacts.write_json(os.path.join(directory, STATE_FILE), {"epoch": epoch + 1})
        artifacts.write_json(os.path.join(self.model_dir, artifacts.HISTORY_FILE), self.history)


def _check_resume(model_dir: str, config: ModelConfig) -> int:
    """Epochs already done in model_dir (0 for a fresh directory); raises on a config mismatch."""
    config_path = os.path.join(model_dir, artifacts.CONFIG_FILE)
    if not os.path.exists(config_path):
        return 0
    import yaml

    with open(config_path, encoding="utf-8") as f:
        stored = config_from_dict(yaml.safe_load(f), source=config_path)
    if stored.resume_key() != config.resume_key():
        old, new = stored.resume_key(), config.resume_key()
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ResumeMismatchError(
            f"{model_dir} holds a model trained with a different config (differs in {changed}); "
            f"use a new model directory or the stored {config_path}")
    state_path = os.path.join(model_dir, artifacts.CHECKPOINT_DIR, STATE_FILE)
    if not os.path.exists(state_path):
        return 0
    with open(state_path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def predict_arrays(model: keras.Model, examples: dict[str, np.ndarray], config: ModelConfig,
                   batch_size: int = 256) -> np.ndarray:
    """Probabilities float32[V, C] for in-memory examples (dict from data.read_examples)."""
    inputs = {k: examples[k] for k in config.input_names}
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=np.float32)


def train(config: ModelConfig, train_data: Sequence[str], model_dir: str, *,
          validate_data: Sequence[str] | None = None, epochs: int | None = None,
          builder: Callable[[ModelConfig, int | None], keras.Model] = build_model,
          verbose: int = 0) -> TrainResult:
    """Train (or resume training) `config` on `train_data` file patterns into local `model_dir`.

    epochs: total epochs to reach (default config.train.epochs); a resumed run continues from
    the last checkpoint. validate_data: patterns scored with GAP@20 after every epoch.
    Writes config.yaml, model.weights.h5, categories.json, thresholds.json (the config's
    default_threshold for every class until `calibrate` runs) and history.json.
    """
    if "://" in model_dir:
        raise ValueError(f"train writes checkpoints with Keras and needs a local model directory, "
                         f"got {model_dir}; copy the finished directory to {model_dir} afterwards")
    epochs = config.train.epochs if epochs is None else epochs
    done = _check_resume(model_dir, config)
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, artifacts.CONFIG_FILE), "w", encoding="utf-8") as f:
        f.write(dump_config(config))
    keras.utils.set_random_seed(config.train.seed + done)

    checkpoint = os.path.join(model_dir, artifacts.CHECKPOINT_DIR, CHECKPOINT_FILE)
    history: list[dict] = []
    if done and os.path.exists(checkpoint):
        model = keras.models.load_model(checkpoint)
        history_path = os.path.join(model_dir, artifacts.HISTORY_FILE)
        if os.path.exists(history_path):
            history = artifacts.read_json(history_path)[:done]
    else:
        done = 0
        model = compile_model(builder(config, config.train.seed), config)

    validation = None
    if validate_data:
        examples = data.read_examples(validate_data, config)

        def validation() -> float:
            return metrics.gap(predict_arrays(model, examples, config), examples[data.LABELS])

    if epochs > done:
        dataset = data.for_keras(
            data.make_dataset(train_data, config, config.train.batch_size, shuffle=True,
                              seed=config.train.seed + done), config)
        saver = _Checkpoint(model_dir, history, validation)
        with warnings.catch_warnings():
            # Keras says "input ran out of data" when an epoch ends a dataset of
            # unknown length (ours: read from TFRecords); nothing is cut short.
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
            model.fit(dataset, epochs=epochs, initial_epoch=done, verbose=verbose, shuffle=False,
                      callbacks=[keras.callbacks.TerminateOnNaN(), saver])
        if saver.diverged_at is not None:
            raise ValueError(f"training diverged (non-finite loss) in epoch {saver.diverged_at}; "
                             f"lower train.learning_rate; the last good checkpoint is kept")
    save_model_files(model, config, model_dir, reset_thresholds=epochs > done)
    return TrainResult(model=model, history=history, model_dir=model_dir, resumed_from_epoch=done)


def save_model_files(model: keras.Model, config: ModelConfig, model_dir: str,
                     reset_thresholds: bool = True) -> None:
    """Weights, categories.json and thresholds.json: config.default_threshold for every class,
    uncalibrated (new weights invalidate a calibration), kept only when nothing was trained."""
    model.save_weights(os.path.join(model_dir, artifacts.WEIGHTS_FILE))
    categories = model_categories(config.categories, config.num_classes)
    artifacts.write_json(os.path.join(model_dir, artifacts.CATEGORIES_FILE),
                         artifacts.categories_document(categories))
    thresholds_path = os.path.join(model_dir, artifacts.THRESHOLDS_FILE)
    if reset_thresholds or not os.path.exists(thresholds_path):
        artifacts.write_json(thresholds_path, artifacts.thresholds_document(
            categories, np.full(config.num_classes, config.default_threshold), calibrated=False))


def write_training_plot(model_dir: str, history: list[dict], title: str = "") -> str:
    """{model_dir}/training_curves.png: loss and validation GAP@20 per epoch of `history`
    (TrainResult.history, the rows of history.json); returns its path."""
    from model.classifier import plots

    path = os.path.join(model_dir, CURVES_PNG)
    plots.training_curves(history, path, title)
    return path
