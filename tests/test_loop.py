"""The segment loop (engine.loop): worker processes decode and batch, one device loop runs
the model."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
import torch

from sklearn_samplecnn import AudioLoadError, MultiScaleFeatureTransformer
from sklearn_samplecnn.audio import load_audio, write_audio
from sklearn_samplecnn.engine import Clips, SegmentBatches, resolve_n_jobs, run_segments
from sklearn_samplecnn.nn import InferenceRunner, SampleCNN
from sklearn_samplecnn.segments import segment_signal, segment_starts

from .conftest import tone

SR = 8000


@pytest.fixture
def files(tmp_path):
    """16 WAVs of different lengths (some shorter than a segment), one unreadable."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(16):
        n = int(rng.integers(40, 700))
        p = tmp_path / f"c{i:02d}.wav"
        write_audio(p, tone(200 + 50 * i, n, SR, rng=rng), SR)
        paths.append(str(p))
    bad = tmp_path / "c07.wav"
    bad.write_bytes(b"not audio at all" * 20)
    return paths


@pytest.fixture(autouse=True)
def _fresh_workers():
    """Decoding processes are kept between runs; the tests that patch what they run (or
    count them) start from none."""
    from sklearn_samplecnn import engine

    engine.release_buffers()
    yield


def _first_sample(x: torch.Tensor) -> torch.Tensor:
    """A function of each segment that identifies it: its first and last samples."""
    return torch.stack([x[:, 0], x[:, -1], x.sum(dim=1)], dim=1)


@pytest.mark.parametrize("n_jobs, ring", [(0, None), (2, False), (2, True)])
def test_every_segment_once_in_order_and_errors_per_clip(files, n_jobs, ring):
    clips = Clips(files, "paths", sr=SR)
    results = {r.index: r for r in run_segments(clips, _first_sample, segment_length=81,
                                                batch_size=5, n_jobs=n_jobs, tail="pad",
                                                ring=ring)}
    assert sorted(results) == list(range(16))  # every clip reported exactly once
    assert isinstance(results[7].error, AudioLoadError) and "c07.wav" in str(results[7].error)
    for i, r in results.items():
        if i == 7:
            continue
        y = clips.load(i)
        expected = segment_signal(y, 81, tail="pad")
        assert r.rows.shape == (len(expected), 3)
        np.testing.assert_allclose(r.rows[:, 2], expected.sum(axis=1), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(r.starts, np.arange(len(expected)) * 81)


def test_workers_and_their_ring_serve_the_next_run_and_never_an_aborted_ones(files):
    """The decoding processes and their shared buffers are kept for the next run of the
    same shape (same processes: not started again); a run left early may leave a worker
    writing, so its processes are stopped and nothing of it is kept."""
    from sklearn_samplecnn import engine
    from sklearn_samplecnn.engine import loop

    engine.release_buffers()
    clips = Clips(files, "paths", sr=SR)

    def run(**kw):
        return {r.index: r for r in run_segments(clips, _first_sample, segment_length=81,
                                                 batch_size=5, n_jobs=2, tail="pad", **kw)}

    def pids():
        return sorted(w.pid for w in loop._kept[0].loader._iterator._workers)

    first = run()
    assert len(loop._kept) == 1 and loop._kept[0].ring is not None
    kept, before = loop._kept[0], pids()
    second = run()  # the same workers and ring (all slots free again), kept again
    assert loop._kept == [kept] and pids() == before
    for i in first:
        if first[i].error is None:
            np.testing.assert_array_equal(first[i].rows, second[i].rows)
    other = {r.index: r for r in run_segments(clips, _first_sample, segment_length=81,
                                              batch_size=4, n_jobs=2, tail="pad")}
    assert loop._kept[0] is not kept  # another shape: new workers, the old ones stopped
    assert not kept.alive() or kept.loader is None
    assert sorted(other) == sorted(first)
    stream = run_segments(clips, _first_sample, segment_length=81, batch_size=5, n_jobs=2,
                          tail="pad")
    next(stream)
    stream.close()
    assert loop._kept == []
    engine.release_buffers()
    assert loop._kept == []


def test_kept_workers_read_relative_paths_where_the_caller_is(files, tmp_path, monkeypatch):
    """Kept workers were started in one folder; a later run from another folder reads its
    relative paths there, as decoding in this process would."""
    import shutil
    from pathlib import Path

    good = [Path(f) for f in files if not f.endswith("c07.wav")]
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    for a, b in zip(good, good[1:] + good[:1]):  # swapped/<a's name> holds b's audio
        shutil.copy(b, swapped / a.name)
    names = [p.name for p in good]

    def rows():
        return {r.index: r.rows for r in run_segments(
            Clips(names, "paths", sr=SR), _first_sample, segment_length=81, batch_size=5,
            n_jobs=2, tail="pad")}

    monkeypatch.chdir(good[0].parent)
    here = rows()
    monkeypatch.chdir(swapped)
    there = rows()
    for i in range(len(names)):
        np.testing.assert_array_equal(there[i], here[(i + 1) % len(names)])


def test_order_subset_and_hop(files):
    clips = Clips(files, "paths", sr=SR)
    got = {r.index: r for r in run_segments(clips, _first_sample, segment_length=64,
                                            batch_size=7, order=[9, 3, 12], hop_length=32,
                                            n_jobs=0)}
    assert sorted(got) == [3, 9, 12]
    y = clips.load(3)
    starts = np.arange(0, len(y) - 64 + 1, 32)
    if starts[-1] + 64 < len(y):  # one more segment ending with the clip
        starts = np.append(starts, len(y) - 64)
    np.testing.assert_array_equal(got[3].starts, starts)


def test_batches_never_exceed_batch_size_and_carry_their_counts(files):
    clips = Clips(files[:6], "paths", sr=SR)
    batches = list(SegmentBatches(clips, range(6), segment_length=50, batch_size=4))
    assert all(b.x.shape[0] <= 4 for b in batches)
    counts = dict(c for b in batches for c in b.counts)
    assert sum(counts.values()) == sum(b.x.shape[0] for b in batches)


_decoded = multiprocessing.Value("i", 0)


def test_memory_is_bounded_in_the_number_of_files(tmp_path, monkeypatch):
    """Workers decode at most a few batches ahead of the consumer, never every file."""
    paths = []
    for i in range(60):
        p = tmp_path / f"{i}.wav"
        write_audio(p, tone(300, 81 * 4, SR), SR)
        paths.append(str(p))
    from sklearn_samplecnn.engine import loop

    original = loop.open_segments  # each file is opened once, and read into the batches

    def counting(path, sr):
        with _decoded.get_lock():
            _decoded.value += 1
        return original(path, sr)

    monkeypatch.setattr(loop, "open_segments", counting)
    _decoded.value = 0
    ahead = []
    for k, _ in enumerate(run_segments(Clips(paths, "paths", sr=SR), _first_sample,
                                       segment_length=81, batch_size=4, n_jobs=2), start=1):
        ahead.append(_decoded.value - k)
    # 2 workers x 2 prefetched batches of 1 clip each, plus the batch in hand and slack
    assert max(ahead) <= 10 < len(paths)


def test_a_crashed_worker_is_an_error_not_a_hang(files, monkeypatch):
    from sklearn_samplecnn.engine import loop

    original = loop.open_segments

    def crash(path, sr):
        if path == files[5]:
            os._exit(3)  # a segfault or an OOM kill in a decoding process
        return original(path, sr)

    monkeypatch.setattr(loop, "open_segments", crash)
    clips = Clips(files, "paths", sr=SR)
    with pytest.raises(RuntimeError, match="worker"):
        list(run_segments(clips, _first_sample, segment_length=81, batch_size=4, n_jobs=2,
                          timeout=60))


def test_transformer_rows_do_not_depend_on_workers(files):
    torch.manual_seed(0)
    model = SampleCNN("3-3-3-3", channels=[4] * 5, n_outputs=2).eval()
    good = [p for i, p in enumerate(files) if i != 7]
    feats = MultiScaleFeatureTransformer(extractors=[(model, SR)], layers=(-2, -1))
    in_process = feats.set_params(n_jobs=0).fit(good).transform(good)
    two = feats.set_params(n_jobs=2).transform(good)
    np.testing.assert_allclose(two, in_process, rtol=1e-6)


def test_n_jobs_follows_joblib():
    from joblib import parallel_config

    assert resolve_n_jobs(None) == 1 and resolve_n_jobs(0) == 0 and resolve_n_jobs(3) == 3
    assert resolve_n_jobs(-1) == os.cpu_count()
    with parallel_config(n_jobs=2):
        assert resolve_n_jobs(None) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_cuda_runner_matches_cpu(precision, cuda_graph):
    torch.manual_seed(0)
    model = SampleCNN("3-3-3-3", channels=[8] * 5, n_outputs=3).eval()
    x = torch.randn(16, 81)
    cpu = InferenceRunner(model, "cpu")(x, return_hidden=["module3"])
    gpu = InferenceRunner(model, "cuda", precision, cuda_graph=cuda_graph)
    for _ in range(2):  # the second call replays the graph
        logits, hidden = gpu(x.cuda(), return_hidden=["module3"])
    tol = 1e-4 if precision == "fp32" else 3e-2
    np.testing.assert_allclose(logits.float().cpu(), cpu[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(hidden["module3"].float().cpu(), cpu[1]["module3"],
                               rtol=tol, atol=tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pipeline_and_training(files):
    from sklearn_samplecnn import SampleCNNClassifier

    good = [p for i, p in enumerate(files) if i != 7]
    y = ["a", "b"] * (len(good) // 2) + ["a"] * (len(good) % 2)
    torch.manual_seed(0)
    model = SampleCNN("3-3-3-3", channels=[4] * 5, n_outputs=2).eval()
    cpu = MultiScaleFeatureTransformer(extractors=[(model, SR)]).fit(good).transform(good)
    gpu = MultiScaleFeatureTransformer(extractors=[(model, SR)], device="cuda", n_jobs=2)
    np.testing.assert_allclose(gpu.fit(good).transform(good), cpu, rtol=2e-2, atol=2e-2)
    for precision in ("fp32", "bf16", "fp16"):
        clf = SampleCNNClassifier(module__sizes="3-3-3-3", module__channels=[4] * 5, sr=SR,
                                  max_epochs=2, train_split=None, verbose=0, device="cuda",
                                  precision=precision, random_state=0).fit(good, y)
        assert np.isfinite(clf.history_[-1]["train_loss"])
        assert clf.predict_proba(good).shape == (len(good), 2)
        segs = clf.predict_proba_segments(good)
        assert np.isfinite(segs.proba).all() and len(segs.start) == len(segs.proba)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_contrastive_and_cli(files, tmp_path):
    from sklearn_samplecnn import ContrastiveSampleCNN, save_pretrained
    from sklearn_samplecnn.cli import main

    good = [p for i, p in enumerate(files) if i != 7]
    est = ContrastiveSampleCNN(module__sizes="3-3-3-3", module__channels=[4] * 5, sr=SR,
                               batch_size=8, max_epochs=2, train_split=None, verbose=0,
                               device="cuda", random_state=0).fit(good)
    assert np.isfinite(est.history_[-1]["train_loss"])
    path = save_pretrained(est, tmp_path / "ssl.samplecnn")
    out = tmp_path / "f.npy"
    assert main(["extract", "-m", str(path), *good, "-o", str(out), "--device", "cuda",
                 "-q"]) == 0
    assert np.load(out).shape[0] == len(good)


@pytest.mark.parametrize("n_jobs", [0, 2])
def test_a_file_failing_after_its_first_batches_is_dropped_whole(tmp_path, n_jobs):
    """Files at the model's rate are read straight into the batches; one whose last samples
    are NaN fails after some of its segments went out: it is reported, none of its rows is
    kept, and the other clips are as decoded alone."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        y = tone(300 + 100 * i, 81 * 9 + 17, SR, rng=rng)
        if i == 2:
            y[-3] = np.nan
        p = tmp_path / f"{i}.wav"
        write_audio(p, y, SR, subtype="FLOAT")
        paths.append(str(p))
    clips = Clips(paths, "paths", sr=SR)
    got = {r.index: r for r in run_segments(clips, _first_sample, segment_length=81,
                                            batch_size=4, n_jobs=n_jobs)}
    assert sorted(got) == list(range(5))
    assert got[2].rows is None and "NaN or infinite" in str(got[2].error)
    for i in (0, 1, 3, 4):
        expected = segment_signal(clips.load(i), 81)  # tail="overlap": 10 segments
        np.testing.assert_array_equal(got[i].rows[:, 0], expected[:, 0])
        np.testing.assert_allclose(got[i].rows[:, 2], expected.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_direct_reading_decodes_what_load_audio_decodes(files):
    """A mono file at the model's rate is read straight into the batch rows; the rows are
    load_audio's samples, bit for bit (tail="overlap": every sample is read)."""
    from sklearn_samplecnn.audio import open_segments

    for i, path in enumerate(files):
        if i == 7:
            continue  # the unreadable one
        y = load_audio(path, sr=SR)
        n = len(y)
        if n < 81:
            continue
        starts = segment_starts(n, 81)
        out = np.empty((len(starts), 81), np.float32)
        with open_segments(path, SR) as reader:
            for k, s in enumerate(starts):
                reader.read_into(int(s), out[k])
        np.testing.assert_array_equal(out, np.stack([y[s:s + 81] for s in starts]))
    assert open_segments(files[0], 2 * SR) is None  # another rate: load_audio resamples


_MANY_LONG_PATHS = r"""
import os, sys
import numpy as np
from sklearn_samplecnn.audio import write_audio
from sklearn_samplecnn.engine import Clips, run_segments
import torch

root = sys.argv[1]
first = os.path.join(root, "a.wav")
write_audio(first, (0.1 * np.ones(200)).astype(np.float32), 8000)
paths = []
for i in range(500):  # ~150-character names: the job pickles to over 64 KiB
    p = os.path.join(root, f"{i:04d}_" + "x" * 140 + ".wav")
    os.link(first, p)
    paths.append(p)
for run in range(2):  # new workers, then the kept ones
    n = sum(1 for r in run_segments(Clips(paths, "paths", sr=8000), lambda x: x[:, :2],
                                    segment_length=81, batch_size=64, n_jobs=1))
    print(run, n, flush=True)
"""


def test_a_job_larger_than_a_pipe_reaches_its_worker(tmp_path):
    """A worker's job (its clips' paths) goes out once the worker runs: a job larger than
    the pipe's buffer, written before, blocked forever (650 clips of real recordings)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _MANY_LONG_PATHS, str(tmp_path)],
                         capture_output=True, text=True, timeout=180,
                         env={**os.environ, "SAMPLECNN_NO_REEXEC": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0", "500", "1", "500"]
