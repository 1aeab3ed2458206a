"""Recipes: shipped inside the package, each one a valid set of settings, found by name or path."""

from __future__ import annotations

import pytest

from toolkit._config import BuildConfig
from toolkit._errors import ConfigError
from toolkit._recipes import recipe_path, recipe_settings, recipes


def test_the_four_recipes_ship_with_a_description_each():
    shipped = recipes()
    assert set(shipped) == {"thumbnails", "classifier", "captions", "video-frames"}
    assert all(len(line) > 20 for line in shipped.values())


@pytest.mark.parametrize("name", ["thumbnails", "classifier", "captions", "video-frames"])
def test_every_recipe_is_a_valid_config(name, tmp_path):
    settings = recipe_settings(name)
    assert "description" not in settings
    cfg = BuildConfig.create(inputs=[str(tmp_path)], output=str(tmp_path / "out"), **settings)
    assert cfg is not None


def test_the_classifier_recipe_is_what_the_issue_asks():
    s = recipe_settings("classifier")
    assert s["labels"] == "folder" and s["dedupe"] == "near" and s["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert s["size"] == 224 and s["mode"] == "fill" and set(s["exports"]) == {"webdataset", "imagefolder", "parquet"}


def test_a_recipe_may_be_a_file_of_your_own_and_an_unknown_name_says_what_exists(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('description = "mine"\nsize = 64\n')
    assert recipe_path(str(mine)) == mine and recipe_settings(mine) == {"size": 64}
    with pytest.raises(ConfigError, match="classifier.*recipes"):
        recipe_path("clasifier")


def test_flags_and_a_config_file_override_a_recipe(tmp_path):
    from toolkit._cli_options import config_from

    conf = tmp_path / "c.toml"
    conf.write_text("quality = 70\n[filters]\nmin_side = 32\n")
    params = {"recipe": "classifier", "config_file": str(conf), "size": "128", "min_sharpness": 5.0, "exports": ("parquet",)}
    cfg = config_from(params)
    assert cfg.ops[0].get("size") == (128, 128) and cfg.quality == 70  # flag over file over recipe
    assert cfg.filters == {"min_side": 32, "min_sharpness": 5.0}  # a file's [filters] table replaces the recipe's
    assert cfg.exports == ("parquet",) and cfg.labels == "folder"
    assert BuildConfig.create(recipe="classifier", exports=[]).exports == ()


def test_exports_and_shard_bounds_are_checked_naming_the_key():
    assert BuildConfig.create(exports="parquet, webdataset").exports == ("parquet", "webdataset")
    assert BuildConfig.create(shard_max_bytes="512MiB").shard_max_bytes == 512 * 2**20
    for bad, key in (
        ({"exports": ["tar"]}, "exports"),
        ({"shard_max_count": 0}, "shard_max_count"),
        ({"shard_max_bytes": "1KB"}, "shard_max_bytes"),
    ):
        with pytest.raises(ConfigError, match=f"`{key}`"):
            BuildConfig.create(**bad)


def test_exports_are_not_part_of_the_resume_key():
    base = BuildConfig.create(size=64)
    assert base.settings_key == base.replace(exports=["webdataset"], shard_max_count=10, card_license="cc-by-4.0").settings_key


def test_a_json_recipe_works_as_the_flags_help_says(tmp_path, capsys):
    from toolkit._cli import main

    mine = tmp_path / "mine.json"
    mine.write_text('{"description": "mine", "size": 64, "labels": "folder"}')
    assert recipe_settings(mine) == {"size": 64, "labels": "folder"}
    assert main(["build", "--help"]) == 0
    assert "TOML or JSON file of one" in " ".join(capsys.readouterr().out.split())


def test_a_config_files_recipe_path_is_relative_to_the_config_file_as_its_other_paths_are(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "mine.toml").write_text('description = "mine"\nsize = 64\nlabels = "folder"\n')
    (folder / "build.toml").write_text('recipe = "mine.toml"\nquality = 70\n')
    (folder / "shipped.toml").write_text('recipe = "classifier"\n')
    monkeypatch.chdir(tmp_path)  # run from elsewhere: the file means the same
    cfg = BuildConfig.from_file(folder / "build.toml")
    assert cfg.ops[0].get("size") == (64, 64) and cfg.labels == "folder" and cfg.quality == 70
    assert BuildConfig.from_file(folder / "shipped.toml").exports == ("webdataset", "imagefolder", "parquet")
