"""IAB taxonomy data, the visual category list, and config loading / errors."""
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from model import taxonomy
from model.cli import model as model_cli
from model.classifier.config import builtin_config_path, config_from_dict, dump_config, load_config


def test_iab_3_taxonomy_from_the_vendored_file():
    tax = taxonomy.load_taxonomy()
    assert len(tax) == 704
    dogs = tax.get("425")
    assert dogs.name == "Dogs" and dogs.tier_path == ("Pets", "Dogs")
    assert tax.get("483").tier_path == ("Sports",)
    with pytest.raises(ValueError, match="not a IAB Content Taxonomy 3.0 category"):
        tax.get("no-such-id")


def test_visual_categories_are_valid_and_documented():
    visual = taxonomy.visual_categories()
    assert len(visual) >= 50 and len({c.id for c in visual}) == len(visual)
    ids = {c.id for c in visual}
    assert {"483", "533", "422", "425", "216", "680"} <= ids     # sports, soccer, pets, dogs, cooking, gaming
    assert not ids & {"52", "386", "v9i3On", "391"}             # finance, politics, sensitive, personal finance
    text = open(taxonomy.visual_categories_path()).read()
    assert "Rationale" in text


def test_category_list_rejects_unknown_ids_and_wrong_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"categories": [{"id": "425", "name": "Cats"}]}))
    with pytest.raises(ValueError, match="'Dogs', not 'Cats'"):
        taxonomy.load_category_list(str(path))
    path.write_text(yaml.safe_dump({"categories": ["425", "nope"]}))
    with pytest.raises(ValueError, match=r"categories\[1\]"):
        taxonomy.load_category_list(str(path))


def test_config_yaml_round_trip_and_category_file(tmp_path):
    config = load_config(builtin_config_path("yt8m-nextvlad-best.yaml"))
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(str(path)) == config
    visual = config_from_dict({**yaml.safe_load(dump_config(config)), "num_classes": None,
                               "categories": "visual-categories.yaml"} | {"num_classes": 111})
    assert visual.categories == tuple(c.id for c in taxonomy.visual_categories())
    cats = taxonomy.model_categories(visual.categories, visual.num_classes)
    assert cats[0].tier_path and taxonomy.model_categories((), 2)[1].name == "class 1"


@pytest.mark.parametrize("change, message", [
    ({"rgb": {"feature_size": 1024, "cluster_size": 128, "groups": 7}}, "divisible by groups"),
    ({"hidden_size": 100}, "gating_reduction"),
    ({"dropout": 1.5}, "dropout"),
    ({"colour": "red"}, "unknown key"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"metadata": {"channel_buckets": -1}}, "metadata.channel_buckets"),
    ({"categories": ["425"]}, "num_classes is 3862"),
])
def test_config_errors_name_the_file_and_key(tmp_path, change, message):
    data = yaml.safe_load(open(builtin_config_path("yt8m-nextvlad-best.yaml")))
    data.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message) as info:
        load_config(str(path))
    assert str(path) in str(info.value)


def test_cli_synth_writes_youtube8m_records(tmp_path):
    result = CliRunner().invoke(model_cli, ["synth", "--out", str(tmp_path), "--videos", "40",
                                            "--dim", "16", "--encoding", "float16"])
    assert result.exit_code == 0, result.output
    from model.classifier import data
    from model.classifier.config import ModelConfig, StreamConfig

    cfg = ModelConfig(name="s", num_classes=12, rgb=StreamConfig(16, 2, 2, 2), max_frames=60,
                      hidden_size=4, gating_reduction=2)
    examples = data.read_examples([str(tmp_path / "train-*.tfrecord")], cfg)
    assert examples["rgb"].shape == (28, 60, 16)
    assert np.all(examples["labels"].sum(1) >= 1) and np.all(examples["num_frames"] >= 20)
