"""The docs stay true: generated pages are current and the Python examples run.

Every ```python block of the pages below runs, in order, as one script per page (like a
notebook), in a fresh interpreter and a temporary working directory, so that registrations made
by an example never leak into other tests. The script keeps the page's line numbers, so a
traceback points at the Markdown line. A block directly preceded by a line
``<!-- not run: reason -->`` is only compiled (it needs TRL, a GPU, a server or a third-party
package).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [
    "getting-started.md",
    "splits.md",
    "evaluation.md",
    "trainers.md",
    "extending.md",
    "serve.md",
]
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs are not part of this checkout")


def page_script(page: str) -> tuple[str, int]:
    """The runnable blocks of a page as one script with the page's line numbers; block count."""
    text = (DOCS / page).read_text(encoding="utf-8")
    lines = [""] * (text.count("\n") + 1)
    runnable = 0
    for match in _BLOCK.finditer(text):
        code = match.group("code")
        first = text.count("\n", 0, match.start("code"))
        if match.group("before").strip().startswith("<!-- not run"):
            compile(code, f"{page}:{first + 1}", "exec")  # still valid Python
            continue
        runnable += 1
        for offset, line in enumerate(code.split("\n")):
            lines[first + offset] = line
    return "\n".join(lines) + "\n", runnable


def _make_docs() -> object:
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environments_page_is_current() -> None:
    render = _make_docs().render  # type: ignore[attr-defined]
    current = (DOCS / "environments.md").read_text(encoding="utf-8")
    assert current == render(), "docs/environments.md is stale: run python scripts/make_docs.py"


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in [*PAGES, "environments.md", "gallery.md"]:
        assert f"]({page})" in index, page
        assert (DOCS / page).is_file(), page


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page: str, tmp_path: Path) -> None:
    script, runnable = page_script(page)
    assert runnable, f"{page} has no runnable python example"
    path = tmp_path / page.replace(".md", ".py").replace("-", "_")
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"docs/{page} example failed:\n{result.stderr[-4000:]}"
