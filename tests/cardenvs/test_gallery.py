"""The docs gallery shows every image preset and every built-in visual variant."""

from pathlib import Path

import pytest

import cardenvs
from cardenvs.registration import PRESETS

DOCS = Path(__file__).resolve().parents[2] / "docs"
BUILT_IN = [v for v in cardenvs.visual_variants() if not v.startswith("test-")]


@pytest.mark.skipif(not (DOCS / "gallery.md").exists(), reason="docs are not part of this checkout")
def test_gallery_is_current() -> None:
    text = (DOCS / "gallery.md").read_text()
    for preset in PRESETS:
        if preset.kwargs.get("observation") == "image":
            assert f"`{preset.id}`" in text
            assert (DOCS / "gallery" / (preset.id.split("/")[-1] + ".png")).is_file()
    for variant in BUILT_IN:
        assert f"### `{variant}`" in text, f"run scripts/make_gallery.py ({variant} is missing)"
        assert (DOCS / "gallery" / f"variant-{variant}.png").is_file()
