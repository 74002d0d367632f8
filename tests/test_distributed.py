"""Dask execution (a LocalCluster of 2 worker processes) and the resumable feature store."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_samplecnn import (
    AudioLoadError,
    FeatureStoreError,
    MFCCStatsTransformer,
    MultiScaleFeatureTransformer,
    MusicnnTransformer,
    cli,
    read_feature_store,
    save_pretrained,
    write_feature_store,
)
from sklearn_samplecnn.audio import file_key, write_audio
from sklearn_samplecnn.distributed import cluster as dist
from sklearn_samplecnn.nn import SampleCNN

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
N_CLIPS, BAD = 13, 6  # the unreadable file sits in the middle, inside a shard


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny model file and 13 WAVs at 8 kHz of different lengths, one of them junk."""
    root = tmp_path_factory.mktemp("dist")
    torch.manual_seed(0)
    model = root / "tiny.samplecnn"
    save_pretrained(SampleCNN("3-3-3", channels=[3, 4, 5, 6], n_outputs=2).eval(), model,
                    metadata={"sample_rate": 8000})
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_CLIPS):
        p = root / "audio" / f"clip{i:02d}.wav"
        p.parent.mkdir(exist_ok=True)
        if i == BAD:
            p.write_bytes(b"not audio at all")
        else:
            write_audio(p, (0.3 * rng.standard_normal(600 + 97 * i)).astype(np.float32), 8000)
        paths.append(str(p))
    return {"root": root, "model": str(model), "paths": paths}


def _multiscale(data, **kw):
    return MultiScaleFeatureTransformer(extractors=[data["model"]], layers=(-2, -1), **kw)


def _classic(data, **kw):
    return MFCCStatsTransformer(**{"sr": 8000, "n_mfcc": 5, "n_mels": 16, "n_fft": 256,
                                   "hop_length": 128, **kw})


def _musicnn(data, **kw):
    return MusicnnTransformer(layers=("mean_pool", "taggram"), **kw)


def _transform(est, paths):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = est.transform(paths)
    return X, [str(w.message) for w in caught if "could not be decoded" in str(w.message)]


@pytest.mark.parametrize("make", [_multiscale, _classic, _musicnn],
                         ids=["multiscale", "classic", "musicnn"])
@pytest.mark.filterwarnings("ignore:on_error='zeros' is deprecated:FutureWarning")
@pytest.mark.parametrize("on_error", ["skip", "zeros"])
def test_cluster_equals_in_process_in_order(client, data, make, on_error):
    paths = data["paths"]
    local = make(data, on_error=on_error, dask_client=None).fit(paths)
    expected, local_warnings = _transform(local, paths)
    # "auto" (the default) finds the active client; 5 shards over 2 workers
    est = make(data, on_error=on_error, shard_size=3).fit(paths)
    assert dist.resolve_client(est.dask_client) is client
    X, cluster_warnings = _transform(est, paths)
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-6)
    assert X.dtype == np.float32 and X.shape == (N_CLIPS, local.n_features_out_)
    fill = np.isnan(X[BAD]) if on_error == "skip" else X[BAD] == 0
    assert fill.all() and np.isfinite(np.delete(X, BAD, axis=0)).all()
    assert est.failed_files_ == local.failed_files_ == [paths[BAD]]
    assert len(cluster_warnings) == 1 and cluster_warnings == local_warnings


def test_raise_names_the_bad_file(client, data):
    est = _multiscale(data, on_error="raise", shard_size=3).fit(data["paths"])
    with pytest.raises(AudioLoadError, match="clip06.wav"):
        est.transform(data["paths"])
    X = est.transform(data["paths"][:BAD])  # the good files still work afterwards
    np.testing.assert_allclose(X, _multiscale(data, dask_client=None).fit(data["paths"])
                               .transform(data["paths"][:BAD]), rtol=1e-5, atol=1e-6)


def _plugin_on(client) -> bool:
    from sklearn_samplecnn.distributed.plugin import NAME

    return all(NAME in names for names in client.run(
        lambda dask_worker: list(dask_worker.plugins)).values())


def test_each_worker_loads_the_transformer_once(client, data):
    before = client.run(dist.worker_loads) if _plugin_on(client) else {}
    est = _multiscale(data, on_error="skip", shard_size=2, pooling="mean").fit(data["paths"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):  # 2 transforms x 7 shards = 14 tasks
            est.transform(data["paths"])
    after = client.run(dist.worker_loads)
    new = {w: {t: c - before.get(w, {}).get(t, 0) for t, c in counts.items()
               if c != before.get(w, {}).get(t, 0)} for w, counts in after.items()}
    tokens = {t for counts in new.values() for t in counts}
    assert len(tokens) == 1, new  # one fitted transformer...
    assert all(c == 1 for counts in new.values() for c in counts.values()), new  # ...loaded once


def test_auto_none_address_and_inside_a_task(client, data):
    assert dist.resolve_client(None) is None
    assert dist.resolve_client("auto") is client
    assert dist.resolve_client(client) is client
    assert client.submit(dist.resolve_client, "auto").result() is None  # never fans out again
    address = client.scheduler.address
    other = dist.resolve_client(address)
    try:
        assert other is not client and other.scheduler.address == address
        assert dist.resolve_client(address) is other  # one client per address
        est = _classic(data, dask_client=address).fit(data["paths"][:4])
        expected = _classic(data, dask_client=None).fit(data["paths"][:4])
        np.testing.assert_allclose(est.transform(data["paths"][:4]),
                                   expected.transform(data["paths"][:4]), rtol=1e-5, atol=1e-6)
    finally:
        other.close()
        dist._CLIENTS.clear()


def test_a_client_that_is_not_the_default_one(client, data, monkeypatch):
    import distributed.client

    def no_default_client():
        raise ValueError("No clients found")

    # no default client at all (a script that made its client with set_as_default=False):
    # nothing may fall back on one
    monkeypatch.setattr(distributed, "default_client", no_default_client)
    monkeypatch.setattr(distributed.client, "default_client", no_default_client)
    assert dist.resolve_client("auto") is None
    est = _classic(data, dask_client=client, on_error="skip", shard_size=4).fit(data["paths"])
    X, _ = _transform(est, data["paths"])
    assert est.failed_files_ == [data["paths"][BAD]] and np.isnan(X[BAD]).all()


def test_waveform_arrays_on_the_cluster(client):
    X = np.random.default_rng(1).normal(size=(7, 700)).astype(np.float32)
    est = _classic(None, shard_size=2).fit(X)
    np.testing.assert_allclose(est.transform(X), _classic(None, dask_client=None).fit(X)
                               .transform(X), rtol=1e-5, atol=1e-6)
    pairs = [(x, 16000) for x in X]  # (y, sr) pairs travel with their rates
    on_cluster = est.transform(pairs)
    np.testing.assert_allclose(on_cluster, _classic(None, dask_client=None).fit(X)
                               .transform(pairs), rtol=1e-5, atol=1e-6)
    assert not np.allclose(on_cluster, est.transform(X))  # resampled from 16 kHz


def test_a_client_object_is_shared_by_clone_and_pickled_as_its_address(client, data):
    est = _classic(data, dask_client=client)
    assert clone(est).dask_client is client
    copy = pickle.loads(pickle.dumps(est.fit(data["paths"][:2])))
    assert copy.dask_client == client.scheduler.address
    assert est.dask_client is client


def test_store_on_the_cluster_equals_transform(client, data, tmp_path):
    paths = data["paths"]
    est = _multiscale(data, on_error="skip", shard_size=4).fit(paths)
    with pytest.warns(UserWarning, match="1 of 13 clips could not be decoded"):
        done = write_feature_store(est, paths, tmp_path / "store")
    assert (done.n_shards, done.computed, done.reused) == (4, 4, 0)
    assert done.failed_files == est.failed_files_ == [paths[BAD]]
    got = read_feature_store(tmp_path / "store", as_frame=True)
    expected, _ = _transform(_multiscale(data, on_error="skip", dask_client=None).fit(paths), paths)
    np.testing.assert_allclose(got.data, expected, rtol=1e-5, atol=1e-6)
    assert got.paths == paths and got.failed_files == [paths[BAD]]
    assert list(got.feature_names) == list(est.get_feature_names_out())
    assert got.file_keys[0] == file_key(paths[0], content=True) and got.file_keys[BAD]
    assert "not a readable audio file" in got.errors[BAD]
    assert got.errors[:BAD] == [None] * BAD
    assert list(got.frame.columns[:3]) == ["path", "key", "error"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
        "_manifest.json", *(f"shard-{k:05d}.parquet" for k in range(4))]


_KILLED_RUN = """
import json, os, sys
from sklearn_samplecnn import MultiScaleFeatureTransformer, write_feature_store
from sklearn_samplecnn.features import store as distributed

model, store, listing = sys.argv[1:4]
kill_after = int(os.environ.get("TEST_KILL_AFTER_SHARDS", "0"))
write = distributed._write_shard
written = []

def write_then_maybe_die(*args, **kwargs):
    write(*args, **kwargs)
    written.append(args[1])
    if len(written) == kill_after:
        os._exit(3)  # as abrupt as a kill: no cleanup, no atexit

distributed._write_shard = write_then_maybe_die
paths = json.loads(open(listing).read())
feats = MultiScaleFeatureTransformer(extractors=[model], layers=(-2, -1), on_error="skip",
                                     shard_size=3, dask_client=None).fit(paths)
done = write_feature_store(feats, paths, store)
print(json.dumps({"computed": done.computed, "reused": done.reused, "written": written}))
"""


def _run_script(data, store, *, kill_after=0):
    listing = data["root"] / "paths.json"
    listing.write_text(json.dumps(data["paths"]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TEST_KILL_AFTER_SHARDS": str(kill_after)}
    return subprocess.run([sys.executable, "-c", _KILLED_RUN, data["model"], str(store),
                           str(listing)], capture_output=True, text=True, env=env, timeout=240)


def test_killed_store_resumes_without_recomputing(data, tmp_path):
    store = tmp_path / "store"
    killed = _run_script(data, store, kill_after=2)
    assert killed.returncode == 3, killed.stderr[-2000:]
    finished = sorted(store.glob("shard-*.parquet"))
    assert [f.name for f in finished] == ["shard-00000.parquet", "shard-00001.parquet"]
    before = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in finished}
    with pytest.raises(FeatureStoreError, match="unfinished: 3 of 5 shards are missing"):
        read_feature_store(store)

    rerun = _run_script(data, store)  # the same command again
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.splitlines()[-1]) == {"computed": 3, "reused": 2,
                                                         "written": [2, 3, 4]}
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in finished} == before

    clean = tmp_path / "clean"
    assert _run_script(data, clean).returncode == 0
    resumed, fresh = read_feature_store(store), read_feature_store(clean)
    np.testing.assert_array_equal(resumed.data, fresh.data)
    assert resumed.paths == fresh.paths == data["paths"]
    assert resumed.errors == fresh.errors and resumed.file_keys == fresh.file_keys
    expected, _ = _transform(_multiscale(data, on_error="skip", dask_client=None)
                             .fit(data["paths"]), data["paths"])
    np.testing.assert_allclose(resumed.data, expected, rtol=1e-5, atol=1e-6)


def test_store_refuses_other_runs_and_recomputes_a_broken_shard(data, tmp_path):
    paths = [p for i, p in enumerate(data["paths"]) if i != BAD]
    store = tmp_path / "store"
    est = _classic(data, shard_size=5, dask_client=None).fit(paths)
    assert write_feature_store(est, paths, store).computed == 3
    with pytest.raises(FeatureStoreError, match="other settings"):
        write_feature_store(_classic(data, shard_size=5, n_mfcc=4, dask_client=None)
                            .fit(paths), paths, store)
    with pytest.raises(FeatureStoreError, match="other input files"):
        write_feature_store(est, paths[::-1], store)
    with pytest.raises(FeatureStoreError, match="another shard size"):
        write_feature_store(est.set_params(shard_size=4), paths, store)
    est.set_params(shard_size=5)
    broken = store / "shard-00001.parquet"
    broken.write_bytes(broken.read_bytes()[:100])  # a torn file from outside the library
    with pytest.warns(RuntimeWarning, match="computing it again"):
        assert write_feature_store(est, paths, store).computed == 1
    np.testing.assert_allclose(read_feature_store(store).data, est.set_params(
        dask_client=None).transform(paths), rtol=1e-6)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FeatureStoreError, match="not a feature store"):
        write_feature_store(est, paths, tmp_path / "other")
    with pytest.raises(TypeError, match="audio file paths"):
        write_feature_store(est, [np.zeros(100)], tmp_path / "arrays")


def test_cli_dask_local_writes_a_store_and_an_address_a_file(client, data, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setenv("SAMPLECNN_NO_REEXEC", "1")
    args = ["extract", "-m", data["model"], *data["paths"], "--layers", "-2,-1",
            "--on-error", "skip", "--shard-size", "4", "-q"]
    code = cli.main([*args, "--dask", "local", "--dask-workers", "1",
                     "-o", f"{tmp_path / 'store'}/"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "clip06.wav" in err and "(4 shards: 4 computed)" in err
    assert cli.main([*args, "-o", str(tmp_path / "store")]) == 0  # an existing folder: resume
    assert "4 kept from an earlier run" in capsys.readouterr().err
    assert cli.main([*args, "--dask", client.scheduler.address,
                     "-o", str(tmp_path / "f.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"),
                               read_feature_store(tmp_path / "store").data, rtol=1e-6)
    code = cli.main([*args, "--dask-workers", "2", "-o", str(tmp_path / "g.npy")])
    assert code == 2 and "--dask-workers needs --dask local" in capsys.readouterr().err
