"""Every ```python block in the README and docs runs (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_code_blocks_run(path, tmp_path, monkeypatch):
    blocks = _blocks(path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):  # blocks of one page share a namespace, in order
        try:
            exec(compile(code, f"{path.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{path.name} code block {i} failed: {exc!r}\n{code}") from exc


def test_api_reference_is_current():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_readme_scores_held_out_clips_and_the_docs_say_where_models_come_from():
    readme = (ROOT / "README.md").read_text()
    assert "clf.predict(music.filenames))" not in readme
    assert "train_test_split" in readme and "clf.score(X_test, y_test)" in readme
    assert 'device="cuda"' in readme and "docs/models.md" in readme
    models = (ROOT / "docs" / "models.md").read_text()
    # what ships, where its weights come from and under which licence; then the recipes
    assert "ship inside the package" in models and "MSD_musicnn" in models
    assert "ISC" in models and "samplecnn train" in models
    assert "models.md" in (ROOT / "docs" / "index.md").read_text()
