"""Convert musicnn's TensorFlow checkpoints to sklearn-samplecnn model files.

musicnn 0.1.0 (PyPI, ISC licence, Music Technology Group, Universitat Pompeu
Fabra; code by Jordi Pons) ships four TensorFlow 1 checkpoints inside its wheel:
``MSD_musicnn``, ``MTT_musicnn``, ``MSD_vgg`` and ``MTT_vgg``. This script turns
them into ``.samplecnn`` files that :class:`sklearn_samplecnn.nn.Musicnn` /
:class:`~sklearn_samplecnn.nn.MusicnnVGG` load without TensorFlow, and records the
parity fixture the tests compare against.

It runs in two environments, because TensorFlow must never be a dependency of
the library:

1. ``dump`` runs in a throwaway environment with TensorFlow 1 compatibility:
   ``python -m venv tfenv && tfenv/bin/pip install "tensorflow-cpu==2.15.1"
   "numpy<2" librosa soundfile safetensors && tfenv/bin/pip install --no-deps
   musicnn==0.1.0``. It reads every checkpoint variable (numpy only, no graph),
   renames and transposes it to the PyTorch modules' layout, writes one raw
   safetensors file per model, and runs the original ``musicnn.extractor.extractor``
   on generated audio to record the parity fixture
   (``tests/data/musicnn_parity.npz``). (Under numpy 2 the original's
   ``10000 * float16`` stays float16 and overflows: use ``numpy<2``.)
2. ``package`` runs in the project's environment (``.venv``): it builds each
   module, loads the raw weights strictly and writes
   ``sklearn_samplecnn/models/<name>.samplecnn`` with the tags, the rate and the
   provenance in the config.

``all`` does both, running ``dump`` with ``--tf-python``::

    .venv/bin/python scripts/convert_musicnn.py all --tf-python tfenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
FIXTURE = ROOT / "tests" / "data" / "musicnn_parity.npz"
PACKAGE_DIR = ROOT / "sklearn_samplecnn" / "models"
# frames of the first patch whose frame-level activations the fixture keeps (edges
# and middle: the padding is where a port goes wrong)
FRAME_ROWS = (0, 1, 2, 3, 93, 183, 184, 185, 186)


# -- step 1: in the TensorFlow environment ------------------------------------------
def _bn(reader, tf_name: str, ours: str, out: dict) -> None:
    out[f"{ours}.weight"] = reader.get_tensor(f"{tf_name}/gamma")
    out[f"{ours}.bias"] = reader.get_tensor(f"{tf_name}/beta")
    out[f"{ours}.running_mean"] = reader.get_tensor(f"{tf_name}/moving_mean")
    out[f"{ours}.running_var"] = reader.get_tensor(f"{tf_name}/moving_variance")
    out[f"{ours}.num_batches_tracked"] = np.zeros((), dtype=np.int64)


def _conv2d(reader, tf_name: str, ours: str, out: dict) -> None:
    # TensorFlow: (height=time, width=mel, in, out); torch: (out, in, time, mel)
    out[f"{ours}.weight"] = reader.get_tensor(f"{tf_name}/kernel").transpose(3, 2, 0, 1)
    out[f"{ours}.bias"] = reader.get_tensor(f"{tf_name}/bias")


def _midend_conv(reader, tf_name: str, ours: str, out: dict) -> None:
    # a (7, channels) Conv2d over (time, channels, 1): a Conv1d over time
    kernel = reader.get_tensor(f"{tf_name}/kernel")[:, :, 0, :]  # (7, in, out)
    out[f"{ours}.weight"] = kernel.transpose(2, 1, 0)
    out[f"{ours}.bias"] = reader.get_tensor(f"{tf_name}/bias")


def _dense(reader, tf_name: str, ours: str, out: dict) -> None:
    out[f"{ours}.weight"] = reader.get_tensor(f"{tf_name}/kernel").T
    out[f"{ours}.bias"] = reader.get_tensor(f"{tf_name}/bias")


def musicnn_tensors(reader) -> dict:
    """The musicnn checkpoint's variables under :class:`Musicnn`'s names (creation order:
    input batch norm, the two timbral and three temporal branches, three mid-end layers,
    the back end)."""
    out: dict = {}
    _bn(reader, "batch_normalization", "input_bn", out)
    branches = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]
    for k, ours in enumerate(branches):
        _conv2d(reader, "conv2d" if k == 0 else f"conv2d_{k}", f"{ours}.conv", out)
        _bn(reader, f"batch_normalization_{k + 1}", f"{ours}.bn", out)
    for k in range(3):
        _midend_conv(reader, f"conv2d_{5 + k}", f"midend.{k}.conv", out)
        _bn(reader, f"batch_normalization_{6 + k}", f"midend.{k}.bn", out)
    _bn(reader, "batch_normalization_9", "backend_bn", out)
    _dense(reader, "dense", "dense", out)
    _bn(reader, "batch_normalization_10", "dense_bn", out)
    _dense(reader, "dense_1", "output", out)
    return out


def vgg_tensors(reader) -> dict:
    """The VGG checkpoint's variables under :class:`MusicnnVGG`'s names."""
    out: dict = {}
    _bn(reader, "batch_normalization", "input_bn", out)
    for k in range(5):
        _conv2d(reader, f"{k + 1}CNN", f"convs.{k}", out)
        _bn(reader, f"batch_normalization_{k + 1}", f"bns.{k}", out)
    _dense(reader, "dense", "output", out)
    return out


def fixture_audio() -> list[tuple[str, np.ndarray, int]]:
    """Generated, music-like test clips as int16 PCM: (name, samples, rate).

    Chords of harmonic tones under an envelope, noise bursts on a beat, a
    chirp and a quiet passage; one clip at 16 kHz (no resampling) and one at
    22,050 Hz (resampled by soxr, as librosa.load and the library both do).
    Two patches each, plus a tail the original drops.
    """
    rng = np.random.default_rng(20191101)
    clips = []
    for name, sr, seconds in (("clip16k", 16000, 6.5), ("clip22k", 22050, 6.3)):
        n = int(sr * seconds)
        t = np.arange(n) / sr
        y = np.zeros(n)
        for k, root in enumerate((110.0, 146.8, 196.0, 164.8)):
            span = (t >= k * seconds / 4) & (t < (k + 1) * seconds / 4)
            env = np.exp(-3.0 * ((t - k * seconds / 4) % 0.5))
            for ratio in (1.0, 1.25, 1.5):
                for h in range(1, 6):
                    y += span * env * 0.08 / h * np.sin(2 * np.pi * root * ratio * h * t
                                                        + rng.uniform(0, 2 * np.pi))
        beat = (t % 0.5) < 0.04
        y += beat * rng.normal(0, 0.25, n) * np.exp(-60 * (t % 0.5))
        y += 0.05 * np.sin(2 * np.pi * (300 * t + 400 * t ** 2 / seconds))
        y[(t > seconds * 0.45) & (t < seconds * 0.55)] *= 0.02
        y = np.clip(y / np.abs(y).max() * 0.8, -1, 1)
        clips.append((name, np.round(y * 32767).astype(np.int16), sr))
    return clips


def dump(out_dir: Path, fixture: Path) -> None:
    """Raw weights of every checkpoint and the parity fixture (needs TensorFlow)."""
    import librosa
    import musicnn
    import soundfile as sf
    import tensorflow as tf
    from musicnn import extractor as original
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    where = Path(musicnn.__file__).parent
    for model in MODELS:
        reader = tf.compat.v1.train.NewCheckpointReader(f"{where / model}/")
        tensors = musicnn_tensors(reader) if "musicnn" in model else vgg_tensors(reader)
        tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        save_file(tensors, str(out_dir / f"{model}.raw.safetensors"))
        result = (where / model / "experiment.result").read_text()
        (out_dir / f"{model}.result.txt").write_text(result)
        print(f"{model}: {len(tensors)} tensors, "
              f"{sum(v.size for v in tensors.values()):,} values")

    record: dict = {}
    versions = {"tensorflow": tf.__version__, "numpy": np.__version__,
                "librosa": librosa.__version__, "musicnn": "0.1.0"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pcm, sr in fixture_audio():
            record[f"{name}/pcm"] = pcm
            record[f"{name}/sr"] = np.array(sr)
            path = os.path.join(tmp, f"{name}.wav")
            sf.write(path, pcm, sr, subtype="PCM_16")
            batch, _ = original.batch_data(path, 187, 187)
            record[f"{name}/logmel"] = batch[0].astype(np.float32)  # the first patch
            for model in MODELS:
                taggram, _, features = original.extractor(path, model=model, input_length=3,
                                                          extract_features=True)
                key = f"{name}/{model}"
                record[f"{key}/taggram"] = taggram.astype(np.float32)
                if "musicnn" in model:
                    for layer in ("penultimate", "mean_pool", "max_pool"):
                        record[f"{key}/{layer}"] = features[layer].astype(np.float32)
                    # frame-level layers: the first patch (extractor 0.1.0 repeats the first
                    # patch's cnn1-cnn3 for later patches), a few frames of it
                    for layer in ("timbral", "temporal", "cnn1", "cnn2", "cnn3"):
                        first = features[layer][:187]
                        record[f"{key}/{layer}"] = first[list(FRAME_ROWS)].astype(np.float32)
                else:
                    record[f"{key}/pool5"] = features["pool5"].reshape(
                        len(taggram), -1).astype(np.float32)
                    pool3 = features["pool3"][:23]  # the first patch: (time, mel, filters)
                    record[f"{key}/pool3"] = pool3.reshape(23, -1)[[0, 11, 22]].astype(
                        np.float32)
    record["versions"] = np.array(json.dumps(versions))
    record["frame_rows"] = np.array(FRAME_ROWS)
    fixture.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(fixture, **record)
    print(f"fixture: {fixture} ({fixture.stat().st_size:,} bytes), versions {versions}")


# -- step 2: in the project's environment -------------------------------------------
def package(raw_dir: Path, out_dir: Path) -> None:
    """Build each module from its raw weights and save it as a ``.samplecnn`` file."""
    from safetensors.torch import load_file

    from sklearn_samplecnn.nn.musicnn import MSD_TAGS, MTT_TAGS, MUSICNN_SR, Musicnn, MusicnnVGG
    from sklearn_samplecnn.pretrained import PretrainedModel, save_pretrained

    out_dir.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        state = load_file(str(raw_dir / f"{model}.raw.safetensors"))
        module = Musicnn() if "musicnn" in model else MusicnnVGG()
        module.load_state_dict(state, strict=True)
        module.eval()
        tags = MSD_TAGS if model.startswith("MSD") else MTT_TAGS
        result = (raw_dir / f"{model}.result.txt").read_text().strip().replace("\n", "; ")
        config = {
            "format": None, "task": "tagger", "labels": list(tags), "multilabel": True,
            "sample_rate": MUSICNN_SR, "estimator": {"sr": MUSICNN_SR},
            "training": {
                "source": "musicnn 0.1.0 (PyPI), checkpoint " + model,
                "licence": "ISC, Copyright (c) Music Technology Group, Universitat Pompeu "
                           "Fabra 2019; see LICENSE-musicnn.txt",
                "dataset": "Million Song Dataset (Last.fm top-50 tags)" if model.startswith(
                    "MSD") else "MagnaTagATune (top-50 tags)",
                "reported_test_result": result,
                "converted_by": "scripts/convert_musicnn.py",
            },
            "name": model,
        }
        pretrained = PretrainedModel(module=module, config=config)
        path = save_pretrained(pretrained, out_dir / f"{model}.samplecnn")
        print(f"{model}: {path} ({path.stat().st_size:,} bytes)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    d = sub.add_parser("dump", help="raw weights and the parity fixture (TensorFlow env)")
    p = sub.add_parser("package", help="write the .samplecnn files (project env)")
    a = sub.add_parser("all", help="dump (with --tf-python) then package")
    for s in (d, p, a):
        s.add_argument("--raw-dir", type=Path, default=ROOT / "build" / "musicnn_raw")
    for s in (d, a):
        s.add_argument("--fixture", type=Path, default=FIXTURE)
    for s in (p, a):
        s.add_argument("--out-dir", type=Path, default=PACKAGE_DIR)
    a.add_argument("--tf-python", required=True,
                   help="the python of the TensorFlow environment (see the module docstring)")
    args = parser.parse_args(argv)
    if args.step == "dump":
        dump(args.raw_dir, args.fixture)
    elif args.step == "package":
        package(args.raw_dir, args.out_dir)
    else:
        subprocess.run([args.tf_python, __file__, "dump", "--raw-dir", str(args.raw_dir),
                        "--fixture", str(args.fixture)], check=True)
        package(args.raw_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
