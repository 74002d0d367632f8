"""Write docs/api.md from the docstrings of every public name.

    python docs/make_api.py          # rewrite docs/api.md
    python docs/make_api.py --check  # exit 1 when docs/api.md is out of date (tests run this)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

OUT = Path(__file__).with_name("api.md")
MODULES = ["audio", "segments", "augment", "nn", "engine", "estimators", "features", "pooling",
           "distributed", "pretrained", "datasets", "visualize", "exceptions", "tunables"]


class _Plain:
    """An annotation that prints as its text (postponed annotations are strings)."""

    def __init__(self, text: str) -> None:
        self.text = re.sub(r"ForwardRef\('([^']*)'\)", r"\1", text)

    def __repr__(self) -> str:
        return self.text


def _plain(annotation):
    if annotation is inspect.Parameter.empty:
        return annotation
    return _Plain(annotation if isinstance(annotation, str) else inspect.formatannotation(
        annotation))


def _signature(obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = [p.replace(annotation=_plain(p.annotation)) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=_plain(sig.return_annotation)))


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `python docs/make_api.py`; `help(name)` shows "
             "the full text (parameters, attributes, examples).", ""]
    for mod_name in MODULES:
        module = importlib.import_module(f"sklearn_samplecnn.{mod_name}")
        lines += [f"## `sklearn_samplecnn.{mod_name}`", ""]
        doc = inspect.getdoc(module) or ""
        if doc:
            lines += [doc.split("\n\n")[0].replace("\n", " "), ""]
        for name in sorted(getattr(module, "__all__", [])):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "function"
                lines.append(f"### `{name}{_signature(obj)}`")
                lines.append("")
                summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
                lines += [f"*{kind}* — {summary}", ""]
            else:
                lines += [f"### `{name}`", "", f"*constant* — `{obj!r}`"[:300], ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that api.md is current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
