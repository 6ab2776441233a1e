"""`klio model ...`: describe, train, evaluate, calibrate, convert, synth.

Config is parsed here, once, and handed down; errors become click errors with the message
(exit code 1 for bad input/config, 2 for usage).
"""
from __future__ import annotations

import contextlib
import json
import sys

import click

from model.classifier.config import builtin_config_path, load_config

DEFAULT_CONFIG = "yt8m-nextvlad-best.yaml"


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, allow_nan=False))


@contextlib.contextmanager
def _errors(plots: bool = False):
    """Bad input or config, or a missing 'plots' extra: one click error line (exit code 1).
    plots: the command draws charts; the extra is checked before any work."""
    from model.classifier.plots import PlotsUnavailable, require

    try:
        if plots:
            require()
        yield
    except PlotsUnavailable as exc:
        raise click.ClickException(f"{exc} (or --no-plots)") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


NO_PLOTS = click.option("--no-plots", is_flag=True,
                        help="skip the PNG charts (they need the 'plots' extra: matplotlib)")


def _config(path: str | None):
    with _errors():
        return load_config(path or builtin_config_path(DEFAULT_CONFIG))


@click.group()
def model() -> None:
    """NeXtVLAD video classifier: describe, train, evaluate, calibrate, synthetic data."""


@model.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"model config YAML (default: model/classifier/configs/{DEFAULT_CONFIG})")
def describe(config_path: str | None) -> None:
    """JSON: layer output shapes and trainable / non-trainable / total parameter counts."""
    from model.classifier.nextvlad import build_model, count_params

    config = _config(config_path)
    net = build_model(config, seed=0)
    layers = []
    for layer in net.layers:
        trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
        total = sum(int(w.numpy().size) for w in layer.weights)
        layers.append({"name": layer.name, "class": type(layer).__name__,
                       "output_shape": list(layer.output.shape),
                       "trainable_params": trainable, "non_trainable_params": total - trainable})
    counts = count_params(net)
    _echo_json({"config": config.name, "num_classes": config.num_classes,
                "metadata_width": config.metadata.width if config.metadata_enabled else 0,
                "layers": layers, "trainable_params": counts["trainable"],
                "non_trainable_params": counts["non_trainable"], "total_params": counts["total"]})


@model.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True)
@click.option("--train-data", "train_data", multiple=True, required=True,
              help="TFRecord file pattern (repeatable; local or gs://)")
@click.option("--validate-data", "validate_data", multiple=True,
              help="TFRecord pattern scored (GAP@20) after every epoch")
@click.option("--model-dir", required=True, type=click.Path(file_okay=False),
              help="local output directory; training resumes if it holds a checkpoint")
@click.option("--epochs", type=int, help="total epochs (default: train.epochs of the config)")
@click.option("--verbose", is_flag=True)
@NO_PLOTS
def train(config_path, train_data, validate_data, model_dir, epochs, verbose, no_plots) -> None:
    """Train (or resume) a model; writes the model directory, with training_curves.png (loss
    and validation GAP@20 per epoch)."""
    from model.classifier.train import train as run_train, write_training_plot

    config = _config(config_path)
    with _errors(plots=not no_plots):
        result = run_train(config, list(train_data), model_dir,
                           validate_data=list(validate_data) or None, epochs=epochs,
                           verbose=2 if verbose else 0)
        plot = None if no_plots else write_training_plot(model_dir, result.history, config.name)
    _echo_json({"model_dir": model_dir, "resumed_from_epoch": result.resumed_from_epoch,
                "history": result.history, "plot": plot})


@model.command()
@click.option("--model-dir", help="model directory (local or gs://) to score on --data")
@click.option("--data", "data_patterns", multiple=True, help="TFRecord pattern (repeatable)")
@click.option("--predictions", "predictions_path", type=click.Path(dir_okay=False, exists=True),
              help="precomputed scores float[V, C] (.npy) instead of a model")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, exists=True),
              help="labels [V, C] (.npy) for --predictions")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="write metrics.json, precision_coverage.csv, precision_coverage.png and "
                   "pr_curves.png (per category) here")
@click.option("--target-precision", default=0.8, show_default=True, type=float)
@click.option("--top-k", default=20, show_default=True, type=int, help="k of GAP@k and mAP")
@NO_PLOTS
def evaluate(model_dir, data_patterns, predictions_path, labels_path, out_dir, target_precision,
             top_k, no_plots) -> None:
    """GAP@k, mAP, Hit@1, PERR, F1, coverage at the target precision (JSON on stdout)."""
    from model.classifier import evaluate as ev

    options = {"top_k": top_k, "target_precision": target_precision, "with_plots": not no_plots}
    if predictions_path or labels_path:
        if not (predictions_path and labels_path) or model_dir or data_patterns:
            raise click.UsageError("use --predictions with --labels, or --model-dir with --data")
        with _errors(plots=bool(out_dir) and not no_plots):
            predictions, labels = ev.load_arrays(predictions_path, labels_path)
            result = ev.evaluate_arrays(predictions, labels, out_dir, **options)
    else:
        if not (model_dir and data_patterns):
            raise click.UsageError("use --model-dir with --data, or --predictions with --labels")
        with _errors(plots=bool(out_dir) and not no_plots):
            result = ev.evaluate_model_dir(model_dir, list(data_patterns), out_dir, **options)
    _echo_json(result)


@model.command()
@click.option("--model-dir", required=True, help="model directory (local or gs://)")
@click.option("--data", "data_patterns", multiple=True, required=True,
              help="validation TFRecord pattern (repeatable)")
@click.option("--target-precision", default=0.8, show_default=True, type=float)
@click.option("--min-positives", default=1, show_default=True, type=int,
              help="classes with fewer validation positives are disabled")
@click.option("--plots-dir", default=None,
              help="where the PNG charts go (default: the model directory, next to thresholds.json)")
@NO_PLOTS
def calibrate(model_dir, data_patterns, target_precision, min_positives, plots_dir, no_plots) -> None:
    """Per-category thresholds at the target precision -> {model_dir}/thresholds.json, with
    calibration_pr_curves.png and calibration_categories.png beside it (or in --plots-dir)."""
    from model.classifier.calibrate import calibrate_model_dir

    with _errors(plots=not no_plots):
        report = calibrate_model_dir(model_dir, list(data_patterns), target_precision, min_positives,
                                     plots_dir=plots_dir, with_plots=not no_plots)
    for row in report["disabled"]:
        click.echo(f"disabled {row['index']} {row['id']} {row['name']}: {row['reason']}", err=True)
    _echo_json(report)


@model.command()
@click.option("--model-dir", required=True, help="model directory (local or gs://)")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="conversion cache (default: $VIDEO_IAB_CACHE, else ~/.cache/video-iab)")
def convert(model_dir, cache_dir) -> None:
    """Convert the classifier to OpenVINO into the cache the video-iab job reads
    (classifier.cache_dir), so that workers start without TensorFlow (JSON on stdout)."""
    from model.openvino_cache import cache_dir_or_default
    from model.classifier.serving import load_classifier

    with _errors():
        classifier = load_classifier(model_dir, backend="openvino", cache_dir=cache_dir)
    _echo_json({"model_dir": model_dir, "model": classifier.config.name,
                "cache_dir": cache_dir_or_default(cache_dir), **classifier.runtime})


@model.command("convert-vggish")
@click.option("--checkpoint", required=True,
              help="the published TF1 VGGish checkpoint (vggish_model.ckpt), downloaded beforehand")
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="Keras weights file to write (must end in .weights.h5)")
def convert_vggish(checkpoint, output) -> None:
    """Convert the VGGish checkpoint into the audio embedder's Keras weights (its `weights:`
    setting; its PCA comes from the published vggish_pca_params.npz, `pca_params:`)."""
    from model.audio.checkpoint import convert_checkpoint

    with _errors():
        report = convert_checkpoint(checkpoint, output)
    _echo_json(report)


@model.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--videos", default=1500, show_default=True, type=int)
@click.option("--dim", default=64, show_default=True, type=int, help="frame feature size")
@click.option("--encoding", type=click.Choice(["uint8", "float16"]), default="uint8", show_default=True)
@click.option("--shards", default=2, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--audio-classes", default=0, show_default=True, type=int,
              help="look-alike classes told apart by audio (even; needs --audio-dim)")
@click.option("--audio-dim", default=0, show_default=True, type=int,
              help="audio feature size (0 = no audio list; 128 as YouTube-8M)")
def synth(out_dir, videos, dim, encoding, shards, seed, audio_classes, audio_dim) -> None:
    """Write the synthetic YouTube-8M-format set (train / validate / test shards)."""
    from model.classifier.synthetic import SyntheticSpec, write_dataset

    with _errors():
        spec = SyntheticSpec(num_videos=videos, feature_size=dim, encoding=encoding, seed=seed,
                             audio_classes=audio_classes, audio_feature_size=audio_dim)
        files = write_dataset(out_dir, spec, shards=shards)
    _echo_json({"out": out_dir, "classes": spec.num_classes, "kinds": list(spec.class_kinds),
                "files": files})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(model())
