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
