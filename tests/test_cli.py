"""The ``samplecnn`` command line: train, info, predict, extract; errors and exit codes."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_samplecnn import cli, tunables
from sklearn_samplecnn.datasets import make_music
from sklearn_samplecnn.estimators import from_pretrained

TINY = ["--sizes", "3-3-3-3", "--channels", "4,4,4,4,4", "--sr", "8000"]


@pytest.fixture(autouse=True)
def _no_reexec(monkeypatch):
    monkeypatch.setenv("SAMPLECNN_NO_REEXEC", "1")


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Generated genre and tag clips, and a tiny classifier and tagger trained by the CLI."""
    root = tmp_path_factory.mktemp("cli")
    genre = make_music(root / "genre", n_clips=8, duration=1.0, sr=8000,
                       styles=["jazz", "metal"], random_state=0)
    tags = make_music(root / "tags" / "audio", n_clips=8, task="tags", duration=1.0, sr=8000,
                      random_state=1)
    names = list(tags.target_names)
    with open(root / "tags" / "tags.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", *names])
        for path, row in zip(tags.filenames, tags.target):
            writer.writerow([os.path.relpath(path, root / "tags"), *row])
    os.environ["SAMPLECNN_NO_REEXEC"] = "1"
    try:
        for argv in (["train", root / "genre", *TINY, "--epochs", "1", "--quiet",
                      "-o", root / "genre.samplecnn"],
                     ["train", "--csv", root / "tags" / "tags.csv", "--task", "tags", *TINY,
                      "--epochs", "1", "--quiet", "-o", root / "tags.samplecnn"]):
            assert cli.main([str(a) for a in argv]) == 0
    finally:
        del os.environ["SAMPLECNN_NO_REEXEC"]
    return {"root": root, "genre": genre, "tags": tags, "tag_names": names,
            "classifier": root / "genre.samplecnn", "tagger": root / "tags.samplecnn"}


def read_csv(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_train_prints_progress_and_saves(work, capsys, tmp_path):
    code, out, err = run(capsys, "train", work["root"] / "genre", *TINY, "--epochs", "2",
                         "--valid-fraction", "0.25", "-o", tmp_path / "m.samplecnn")
    assert code == 0, err
    assert "train_loss" in out and "valid_loss" in out  # skorch's epoch table (verbose=1)
    assert "2 classes: jazz, metal" in out
    assert f"saved {tmp_path / 'm.samplecnn'}" in out
    from sklearn_samplecnn import load_pretrained

    model = load_pretrained(tmp_path / "m.samplecnn")
    assert model.config["task"] == "classifier"
    assert model.labels == ["jazz", "metal"]
    assert model.sample_rate == 8000 and model.input_length == 81
    assert model.config["module_config"]["channels"] == [4, 4, 4, 4, 4]
    assert model.config["training"]["epochs"] == 2
    assert model.config["training"]["command"].startswith("samplecnn train ")


def test_train_preset_sets_the_sample_rate(work, capsys, tmp_path):
    code, out, err = run(capsys, "train", work["root"] / "genre", "--preset", "2000",
                         "--channels", ",".join(["2"] * 11), "--epochs", "1", "--quiet",
                         "--valid-fraction", "0", "-o", tmp_path / "p.samplecnn")
    assert code == 0, err
    cfg = json.loads(run(capsys, "info", tmp_path / "p.samplecnn", "--json")[1])
    assert cfg["sample_rate"] == 2000
    assert cfg["module_config"]["sizes"] == [3, 3, 3, 3, 2, 2, 2, 2, 2, 2]


def test_info_summary_and_json(work, capsys):
    code, out, err = run(capsys, "info", work["classifier"])
    assert code == 0, err
    assert "81 samples at 8000 Hz" in out
    assert "classifier, 2 labels: jazz, metal" in out
    assert "channels:" in out and "4,4,4,4,4" in out
    code, out, _ = run(capsys, "info", work["classifier"], "--json")
    assert code == 0
    cfg = json.loads(out)
    assert cfg["module_config"]["sizes"] == [3, 3, 3, 3]
    assert cfg["labels"] == ["jazz", "metal"]
    code, out, _ = run(capsys, "info", work["tagger"])
    assert f"tagger, {len(work['tag_names'])} tags: drums, bass" in out


def test_predict_classifier_csv(work, capsys, tmp_path):
    out_csv = tmp_path / "sub" / "pred.csv"
    files = work["genre"].filenames
    code, _, err = run(capsys, "predict", work["classifier"], work["root"] / "genre",
                       "-o", out_csv)
    assert code == 0, err
    rows = read_csv(out_csv)
    assert rows[0] == ["path", "label", "prob_jazz", "prob_metal"]
    assert sorted(r[0] for r in rows[1:]) == sorted(files)
    proba = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert [r[1] for r in rows[1:]] == [["jazz", "metal"][i] for i in proba.argmax(axis=1)]
    from sklearn_samplecnn import load_pretrained

    expected = from_pretrained(load_pretrained(work["classifier"])).predict_proba(
        [r[0] for r in rows[1:]])
    np.testing.assert_allclose(proba, expected, atol=1e-5)


def test_predict_tagger_to_stdout_from_csv(work, capsys):
    code, out, err = run(capsys, "predict", work["tagger"], "--csv",
                         work["root"] / "tags" / "tags.csv", "--threshold", "0.3")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    names = work["tag_names"]
    assert rows[0] == ["path", "tags", *(f"prob_{t}" for t in names)]
    assert len(rows) == 1 + len(work["tags"].filenames)
    for row in rows[1:]:
        assert os.path.isfile(row[0])  # relative CSV paths resolved against its folder
        proba = np.array([float(v) for v in row[2:]])
        on = [t for t, p in zip(names, proba) if p >= 0.3]
        assert row[1] == "|".join(on)


def test_predict_top_k_tags_and_labels(work, capsys):
    names = work["tag_names"]
    code, out, err = run(capsys, "predict", work["tagger"], "--csv",
                         work["root"] / "tags" / "tags.csv", "--top", "3")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["path", "top_tags", *(f"prob_{t}" for t in names)]
    for row in rows[1:]:
        proba = np.array([float(v) for v in row[2:]])
        top = row[1].split("|")
        assert len(top) == 3 and top == [names[j] for j in np.argsort(-proba, kind="stable")[:3]]
    # the same ranking as the Python API
    from sklearn_samplecnn import load_pretrained

    tagger = from_pretrained(load_pretrained(work["tagger"]))
    assert [r[1].split("|") for r in rows[1:]] == tagger.predict_tags([r[0] for r in rows[1:]],
                                                                      top_k=3)
    code, out, err = run(capsys, "predict", work["classifier"], work["root"] / "genre",
                         "--top", "2")
    rows = list(csv.reader(out.splitlines()))
    assert code == 0 and rows[0][:2] == ["path", "top_labels"]
    for row in rows[1:]:
        first = "jazz" if float(row[2]) >= float(row[3]) else "metal"
        assert row[1] == f"{first}|{({'jazz', 'metal'} - {first}).pop()}"
    code, _, err = run(capsys, "predict", work["classifier"], work["root"] / "genre",
                       "--top", "3")
    assert code == 2 and "--top 3: the model has 2 labels" in err
    code, _, err = run(capsys, "predict", work["tagger"], work["root"] / "genre",
                       "--top", "3", "--threshold", "0.2")
    assert code == 2 and "not allowed with argument" in err


def test_extract_npy_with_names_and_files(work, capsys, tmp_path):
    out = tmp_path / "feats.npy"
    code, _, err = run(capsys, "extract", "-m", work["classifier"], "-m", work["tagger"],
                       work["root"] / "genre", "--layers", "-2,-1", "--pooling", "mean+std",
                       "--cache-dir", tmp_path / "cache", "-q", "-o", out)
    assert code == 0, err
    X = np.load(out)
    names = (tmp_path / "feats.names.txt").read_text().splitlines()
    files = [r[0] for r in read_csv(tmp_path / "feats.rows.csv")[1:]]
    assert read_csv(tmp_path / "feats.rows.csv")[0] == ["path"]
    # 2 models x 2 layers x 4 channels x (mean, std)
    assert X.shape == (8, 32) and X.dtype == np.float32
    assert len(names) == 32 and names[0] == "3-3__layer-2__mean-mean__ch000"
    assert sorted(files) == sorted(work["genre"].filenames)
    from sklearn_samplecnn import MultiScaleFeatureTransformer

    ref = MultiScaleFeatureTransformer(extractors=[str(work["classifier"]), str(work["tagger"])],
                                       layers=(-2, -1), pooling="mean+std").fit(files)
    np.testing.assert_allclose(X, ref.transform(files), rtol=1e-5, atol=1e-6)
    assert list(ref.get_feature_names_out()) == names


def test_extract_csv_matches_npy(work, capsys, tmp_path):
    args = ["extract", "-m", work["classifier"], *work["genre"].filenames[:3], "-q"]
    assert run(capsys, *args, "-o", tmp_path / "f.npy")[0] == 0
    assert run(capsys, *args, "-o", tmp_path / "f.csv")[0] == 0
    rows = read_csv(tmp_path / "f.csv")
    assert rows[0][0] == "path"
    assert rows[0][1:] == (tmp_path / "f.names.txt").read_text().splitlines()
    assert [r[0] for r in rows[1:]] == work["genre"].filenames[:3]
    table = np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(table, np.load(tmp_path / "f.npy"))


def test_extract_parquet(work, capsys, tmp_path):
    args = ["extract", "-m", work["classifier"], work["genre"].filenames[0], "-q",
            "-o", tmp_path / "f.parquet"]
    try:
        import pandas as pd
        from pandas.io.parquet import get_engine

        get_engine("auto")
    except ImportError:
        code, _, err = run(capsys, *args)
        assert code == 2 and "needs pandas and pyarrow" in err
        return
    assert run(capsys, *args)[0] == 0
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert list(table["path"]) == [work["genre"].filenames[0]]


@pytest.fixture
def bad_inputs(work, tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"this is not audio")
    (tmp_path / "fake.samplecnn").write_bytes(b"\x80\x04pickle")
    (tmp_path / "nolabel.csv").write_text("path,genre\na.wav,rock\n")
    (tmp_path / "badtag.csv").write_text("path,rock\na.wav,1\nb.wav,yes\n")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.txt").write_text("no audio here")
    return tmp_path


@pytest.mark.parametrize("argv, code, message", [
    (["predict", "{tmp}/missing.samplecnn", "{genre}"], 2, "no such file"),
    (["predict", "{clf}", "{tmp}/nowhere"], 2, "no such file or folder"),
    (["predict", "{clf}", "{tmp}/flat"], 2, "holds no audio files"),
    (["predict", "{clf}"], 2, "no audio given"),
    (["predict", "{clf}", "{tmp}/junk.wav", "{genre}"], 1, "junk.wav"),
    (["predict", "{clf}", "{genre}", "--threshold", "0.2"], 2, "applies to taggers"),
    (["predict", "{clf}", "{genre}", "--device", "cuda:99"], 2, "--device"),
    (["info", "{tmp}/fake.samplecnn"], 1, "not a safetensors weights file"),
    (["info", "{tmp}"], 2, "is a folder"),
    (["train", "{genre}", "--epochs", "0", "-o", "{tmp}/m"], 2, "positive integer"),
    (["train", "{genre}", "--preset", "7^7", "-o", "{tmp}/m"], 2, "--preset"),
    (["train", "{genre}", "--sizes", "3-x", "-o", "{tmp}/m"], 2, "--sizes"),
    (["train", "{genre}", "--sizes", "3-3", "--channels", "4,4", "-o", "{tmp}/m"], 2,
     "--channels needs 3 numbers"),
    (["train", "{genre}", "--task", "tags", "-o", "{tmp}/m"], 2, "--task tags needs --csv"),
    (["train", "-o", "{tmp}/m"], 2, "either a FOLDER"),
    (["train", "{tmp}/flat", "-o", "{tmp}/m"], 1, "No class folders with audio"),
    (["train", "--csv", "{tmp}/nolabel.csv", "-o", "{tmp}/m"], 1, "needs a 'label' column"),
    (["train", "--csv", "{tmp}/badtag.csv", "--task", "tags", "-o", "{tmp}/m"], 1,
     "line 3: tag 'rock' is 'yes'"),
    (["extract", "-m", "{clf}", "{genre}", "-o", "{tmp}/f.txt"], 2, "extension must be"),
    (["extract", "-m", "{clf}", "{genre}", "--layers", "module9", "-o", "{tmp}/f.npy"], 2,
     "layer 'module9' is not one of"),
    (["extract", "-m", "{tmp}/fake.samplecnn", "{genre}", "-o", "{tmp}/f.npy"], 1,
     "pickled checkpoints are refused"),
    (["extract", "{genre}", "-o", "{tmp}/f.npy"], 2, "--model"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_errors_exit_codes_and_messages(work, bad_inputs, capsys, argv, code, message):
    fill = {"tmp": bad_inputs, "genre": work["root"] / "genre", "clf": work["classifier"]}
    got, out, err = run(capsys, *(a.format(**fill) for a in argv))
    assert got == code, err
    assert "samplecnn: error: " in err
    assert message in err
    assert "Traceback" not in err


def test_predict_skips_unreadable_files_on_request(work, bad_inputs, capsys):
    code, out, err = run(capsys, "predict", work["classifier"], bad_inputs / "junk.wav",
                         work["root"] / "genre", "--on-error", "skip")
    assert code == 0
    assert "left out 1 of 9 files" in err and "junk.wav" in err
    rows = list(csv.reader(out.splitlines()))
    assert len(rows) == 1 + 8


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("train", "predict", "extract", "info", "SAMPLECNN_NO_REEXEC"):
        assert command in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("samplecnn ")


def test_module_help_in_a_subprocess():
    env = {k: v for k, v in os.environ.items() if k != "SAMPLECNN_NO_REEXEC"}
    env.pop("GLIBC_TUNABLES", None)  # exercise the restart where it applies
    proc = subprocess.run([sys.executable, "-m", "sklearn_samplecnn.cli", "--help"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: samplecnn")
    assert "{train,predict,extract,info}" in proc.stdout or "train" in proc.stdout


def test_pooling_choices_match_the_library():
    from sklearn_samplecnn.features import POOLINGS

    assert set(cli.POOLING_CHOICES) == set(POOLINGS)


def test_extract_defaults_are_the_transformer_defaults():
    from sklearn_samplecnn.cli.parser import build_parser
    from sklearn_samplecnn.features import MultiScaleFeatureTransformer

    args = build_parser().parse_args(["extract", "-m", "m.samplecnn", "x.wav", "-o", "f.npy"])
    defaults = MultiScaleFeatureTransformer().get_params()
    assert (args.layers, args.pooling) == (defaults["layers"], defaults["pooling"]) == \
        ("all", "max+std")
    paper = build_parser().parse_args(["extract", "-m", "m", "x", "-o", "f.npy",
                                       "--layers=-3,-2,-1", "--pooling", "paper"])
    assert (paper.layers, paper.pooling) == ((-3, -2, -1), "paper")


def test_tunables_defined_once():
    """The tunables string lives in tunables.py only; the Makefile reads it from there."""
    root = Path(__file__).resolve().parents[1]
    holders = [p for p in [*(root / "sklearn_samplecnn").rglob("*.py"), root / "Makefile"]
               if "trim_threshold=17179869184" in p.read_text()]
    assert holders == [root / "sklearn_samplecnn" / "tunables.py"]
    if shutil.which("make") is None:
        pytest.skip("no make")
    out = subprocess.run(["make", "-s", "-f", "-", "show"], cwd=root, text=True, check=True,
                         capture_output=True,
                         input="include Makefile\nshow:\n\t@echo $$GLIBC_TUNABLES\n",
                         env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"})
    assert out.stdout.strip() == tunables.GLIBC_TUNABLES


class _Execed(Exception):
    pass


@pytest.fixture
def fake_execve(monkeypatch):
    calls = []

    def execve(path, args, env):
        calls.append((path, args, env))
        raise _Execed

    monkeypatch.setattr(tunables.os, "execve", execve)
    monkeypatch.setattr(tunables, "_is_glibc", lambda: True)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv("SAMPLECNN_NO_REEXEC", raising=False)
    return calls


def test_main_restarts_itself_with_the_tunables(fake_execve, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.samplecnn").write_bytes(b"x")  # the restart comes before it is read
    monkeypatch.setattr(sys, "argv", ["samplecnn", "info", "m.samplecnn"])
    with pytest.raises(_Execed):
        cli.main()
    path, args, env = fake_execve[0]
    assert path == sys.executable
    assert args == [sys.executable, "-m", "sklearn_samplecnn.cli", "info", "m.samplecnn"]
    assert env["GLIBC_TUNABLES"] == tunables.GLIBC_TUNABLES


@pytest.mark.parametrize("argv", [["--help"], ["info", "missing.samplecnn"], ["predict"],
                                  ["train", "--sizes", "3-x", "-o", "m.samplecnn"]])
def test_help_and_usage_errors_answer_without_restarting(fake_execve, monkeypatch, tmp_path,
                                                         argv, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["samplecnn", *argv])
    assert cli.main() == (0 if argv == ["--help"] else 2)
    assert fake_execve == []  # the restart costs a second interpreter start: real work only


@pytest.mark.parametrize("env", [{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
                                 {"SAMPLECNN_NO_REEXEC": "1"}])
def test_no_restart_when_set_or_opted_out(fake_execve, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert not tunables.should_reexec()
    tunables.reexec_with_tunables(["-m", "sklearn_samplecnn.cli", "--help"])
    assert fake_execve == []


def test_main_with_an_argument_list_never_restarts(fake_execve, capsys):
    assert cli.main(["--version"]) == 0
    assert fake_execve == []


_LIGHT = ("import json, sys\n"
          "from sklearn_samplecnn.cli import main\n"
          "sys.argv = ['samplecnn', *sys.argv[1:]]\n"
          "rc = main()\n"  # as the console script calls it: the restart is allowed
          "print(json.dumps([rc, 'torch' in sys.modules]))\n")


@pytest.mark.parametrize("argv,code,message", [
    (["--help"], 0, None),
    (["predict", "missing.wav"], 2, "MODEL 'missing.wav': no such file"),
    (["predict", "{model}", "missing.wav"], 2, "'missing.wav': no such file or folder"),
    (["predict", "{model}"], 2, "no audio given"),
    (["predict", "{model}", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["info", "missing.samplecnn"], 2, "MODEL 'missing.samplecnn': no such file"),
    (["extract", "-m", "{model}", "{model}", "-o", "x.txt"], 2,
     "--output 'x.txt': the extension must be one of"),
    (["extract", "-m", "{model}", "{model}", "-o", "x.npy", "--dask-workers", "2"], 2,
     "--dask-workers needs --dask local"),
    (["train", "--sizes", "3-x", "-o", "m.samplecnn", "folder"], 2, "--sizes: sizes must"),
    (["train", "--preset", "7^7", "-o", "m.samplecnn", "folder"], 2, "--preset: preset must"),
    (["train", "-o", "m.samplecnn", "missing"], 2, "FOLDER 'missing': no such folder"),
    (["train", "--csv", "missing.csv", "-o", "m.samplecnn"], 2, "--csv 'missing.csv': no such"),
])
def test_help_and_usage_errors_never_import_torch(tmp_path, argv, code, message):
    """``--help`` and every usage error answer before torch is imported (and without the
    restart with GLIBC_TUNABLES, which would cost a second interpreter start), with the
    same messages and exit status as before."""
    model = tmp_path / "m.samplecnn"
    model.write_bytes(b"not read before the arguments are checked")
    argv = [a.replace("{model}", str(model)) for a in argv]
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", "SAMPLECNN_NO_REEXEC")}
    proc = subprocess.run([sys.executable, "-c", _LIGHT, *argv], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    rc, torch_imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rc == code and not torch_imported
    if message is None:
        assert "usage: samplecnn" in proc.stdout
    else:
        assert f"samplecnn: error: {message}" in proc.stderr


def _option_helps(command: str) -> dict[str, str]:
    """``{option: help text}`` of one sub-command, defaults left out."""
    from sklearn_samplecnn.cli.parser import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    out = {}
    for action in sub._actions:
        if action.help and action.help != argparse.SUPPRESS:
            text = re.sub(r"\s*\(default: %\(default\)s\)", "", action.help)
            for flag in action.option_strings or [action.dest]:
                out[flag] = (text, action.metavar)  # what --help shows
    return out


def test_predict_and_extract_describe_shared_options_identically():
    """An option of both commands has one text (its default may differ); only the outputs
    differ by nature: a CSV of predictions against a feature matrix or store."""
    predict, extract = _option_helps("predict"), _option_helps("extract")
    shared = sorted(set(predict) & set(extract) - {"-o", "--output", "-h", "--help"})
    assert {"--jobs", "--on-error", "--batch-size", "--device", "--threads",
            "--per-segment", "--per-file", "--csv", "inputs"} <= set(shared)
    assert [o for o in shared if predict[o] != extract[o]] == []
    assert _option_helps("train")["--jobs"] == predict["--jobs"]
    assert _option_helps("train")["--on-error"] == predict["--on-error"]


def test_on_error_choices_are_the_librarys():
    from sklearn_samplecnn.engine import ON_ERROR

    assert cli.parser.ON_ERROR_CHOICES == ON_ERROR


@pytest.mark.parametrize("old, value", [(["--workers", "0"], 0), (["--jobs", "0"], 0)])
def test_workers_is_the_deprecated_spelling_of_jobs(work, capsys, old, value):
    code, out, err = run(capsys, "predict", work["classifier"], work["root"] / "genre", *old)
    assert code == 0
    assert ("--workers is deprecated; use --jobs" in err) == (old[0] == "--workers")
    assert len(out.splitlines()) > 1


def test_preset_help_lists_every_preset():
    from sklearn_samplecnn.nn import MULTISCALE_PRESETS, SAMPLE_RATE_PRESETS

    text = " ".join(_option_helps("train")["--preset"][0].split())
    listed = re.findall(r"\(([^)]*)\)", text)
    assert listed[0].split(", ") == list(MULTISCALE_PRESETS)
    assert listed[1].split(", ") == [str(sr) for sr in SAMPLE_RATE_PRESETS]


def test_pooling_choices_and_help_come_from_the_registry():
    from sklearn_samplecnn.pooling import POOLINGS, describe_pooling

    sub = next(a for a in cli.parser.build_parser()._actions if a.dest == "command")
    pooling = next(a for a in sub.choices["extract"]._actions if a.dest == "pooling")
    assert tuple(pooling.choices) == tuple(POOLINGS)
    assert all(f"{name}: {describe_pooling(name)}" in pooling.help for name in POOLINGS)


def test_output_formats_come_from_the_writers(tmp_path):
    from sklearn_samplecnn.cli.output import WRITERS

    sub = next(a for a in cli.parser.build_parser()._actions if a.dest == "command")
    extract = sub.choices["extract"]
    assert all(f"{w.suffix} ({w.description})" in extract.description for w in WRITERS.values())
    output = next(a for a in extract._actions if a.dest == "output")
    assert ", ".join(WRITERS) in output.help
    assert cli.parser.OUTPUT_FORMATS == tuple(WRITERS)


@pytest.mark.parametrize("per_segment", [False, True])
def test_extract_writes_npz(work, tmp_path, capsys, per_segment):
    """-o features.npz: one file with the matrix, its names, each row's path (and times)."""
    out = tmp_path / "f.npz"
    extra = ["--per-segment"] if per_segment else []
    code, _, err = run(capsys, "extract", "-m", work["classifier"], work["root"] / "genre",
                       "--layers", "-1", "-q", *extra, "-o", out)
    assert code == 0, err
    assert f"to {out}" in err
    ref = tmp_path / "f.csv"
    assert run(capsys, "extract", "-m", work["classifier"], work["root"] / "genre",
               "--layers", "-1", "-q", *extra, "-o", ref)[0] == 0
    rows = list(csv.reader(ref.read_text().splitlines()))
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(["features", "feature_names", "paths",
                                          *(["start", "end"] if per_segment else [])])
        assert list(z["feature_names"]) == rows[0][3 if per_segment else 1:]
        assert list(z["paths"]) == [r[0] for r in rows[1:]]
        np.testing.assert_allclose(z["features"], [[float(v) for v in r[3 if per_segment
                                                                          else 1:]]
                                                   for r in rows[1:]], rtol=1e-6)
        if per_segment:
            np.testing.assert_allclose(z["start"], [float(r[1]) for r in rows[1:]])
