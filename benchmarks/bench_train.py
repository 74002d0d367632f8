"""Training throughput: SampleCNNClassifier.fit against a bare torch loop.

All measured in one run, on the same model, batch size and pre-decoded segments:

- ``bare loop``: a plain torch loop (SGD with Nesterov momentum, cross-entropy)
  over a tensor of segments: the ceiling for this model on this machine.
- ``estimator, arrays``: ``SampleCNNClassifier.fit`` on the same waveforms as a 2-D
  array (skorch, the segment dataset, callbacks, validation off).
- ``estimator, files``: the same from WAV files, decoded in the training process
  and in ``iterator_train__num_workers`` DataLoader workers.
- ``default set-up``: the estimator on arrays in a fresh interpreter started
  *without* the glibc malloc tunables that ``make``, the CLI and the examples
  apply, against the same in a fresh interpreter *with* them (side by side).

Segments/s counts training segments per wall second (one optimiser step per
``batch_size`` segments), best of ``REPEATS`` timed epochs after a warm-up. ::

    python benchmarks/bench_train.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_common_arguments, machine_info, print_table, write_json

from sklearn_samplecnn.tunables import GLIBC_TUNABLES

SR = 22050
#: Timed repeats per set-up after a warm-up; the best is kept (the least disturbed
#: by other work on a shared machine), for the bare loop and the estimator alike.
REPEATS = 2


def _settings(args) -> dict:
    if args.smoke:
        return {"sizes": "3-3-3-3", "channels": [4] * 5, "segments": 48, "batch": 8,
                "steps": 3}
    if args.quick:
        return {"sizes": "3^9", "channels": None, "segments": 23 * 4, "batch": 23, "steps": 4}
    return {"sizes": "3^9", "channels": None, "segments": 23 * 12, "batch": 23, "steps": 12}


def _data(s):
    import torch

    from sklearn_samplecnn.nn import SampleCNN

    length = SampleCNN(s["sizes"], s["channels"], n_outputs=2).input_length
    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((s["segments"], length))).astype(np.float32)
    y = np.arange(s["segments"]) % 2
    torch.manual_seed(0)
    return X, y, length


def bare_loop(s, device="cpu") -> float:
    """Segments/s of a plain torch training loop over pre-decoded segments (on ``device``)."""
    import torch

    from sklearn_samplecnn.nn import SampleCNN

    X, y, _ = _data(s)
    model = SampleCNN(s["sizes"], s["channels"], n_outputs=2).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)

    def epoch():
        perm = torch.randperm(len(Xt), device=device)
        for i in range(0, len(Xt) - s["batch"] + 1, s["batch"]):
            idx = perm[i:i + s["batch"]]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    epoch()  # warm-up
    n = (len(Xt) // s["batch"]) * s["batch"]
    best = 0.0
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        epoch()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def estimator_fit(s, X, y, **params) -> float:
    """Segments/s of one epoch of SampleCNNClassifier.fit (after a warm-up fit)."""
    from sklearn_samplecnn import SampleCNNClassifier

    clf = SampleCNNClassifier(module__sizes=s["sizes"], module__channels=s["channels"],
                              batch_size=s["batch"], max_epochs=1, train_split=None,
                              schedule=None, verbose=0, random_state=0, **params)
    clf.fit(X, y)  # warm-up: imports, allocator, workers
    best = 0.0
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        clf.fit(X, y)
        n = sum(h["train_batch_size"] for h in clf.history_[-1]["batches"])
        best = max(best, n / (time.perf_counter() - t0))
    return best


def _child(mode: str, s: dict) -> None:
    X, y, _ = _data(s)
    print(json.dumps({"segments_per_s": estimator_fit(s, X, y)}))


def _in_fresh_process(args, tuned: bool, s: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tuned:
        env["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    cmd = [sys.executable, __file__, "--child", "estimator",
           "--settings", json.dumps(s)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["segments_per_s"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_train.json")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader decoding workers")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda (see also "
                                                         "benchmarks/gpu_check.py)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, json.loads(args.settings))
        return {}
    s = _settings(args)
    X, y, length = _data(s)
    rows = []
    bare = bare_loop(s, args.device)
    rows.append({"setup": "bare torch loop (ceiling)", "seg_s": bare})
    arrays = estimator_fit(s, X, y, device=args.device)
    rows.append({"setup": "estimator, arrays", "seg_s": arrays})
    with tempfile.TemporaryDirectory() as tmp:
        from sklearn_samplecnn.audio import write_audio

        paths = []
        for i, clip in enumerate(X.reshape(-1, 2, length)):  # two segments per file
            paths.append(str(Path(tmp) / f"clip{i:03d}.wav"))
            write_audio(paths[-1], clip.reshape(-1), SR, subtype="FLOAT")
        labels = np.arange(len(paths)) % 2
        inline = estimator_fit(s, paths, labels, device=args.device)
        files = estimator_fit(s, paths, labels, iterator_train__num_workers=args.workers,
                              device=args.device)
    rows.append({"setup": "estimator, WAV files, decoded in-process", "seg_s": inline})
    rows.append({"setup": f"estimator, WAV files, {args.workers} workers", "seg_s": files})
    default = _in_fresh_process(args, False, s)
    tuned = _in_fresh_process(args, True, s)
    rows.append({"setup": "fresh process, default glibc malloc", "seg_s": default})
    rows.append({"setup": "fresh process, library's GLIBC_TUNABLES", "seg_s": tuned})
    for r in rows:
        r["vs_bare"] = r["seg_s"] / bare
    info = machine_info(packages=("torch", "skorch", "numpy"),
                        threads=__import__("torch").get_num_threads())
    print(f"{info['cpu_model']}, {info['usable_cores']} cores, torch {info['versions']['torch']}, "
          f"GLIBC_TUNABLES={info['glibc_tunables']!r}, {info['date']}")
    print_table(rows, [("setup", "set-up"), ("seg_s", "segments/s", ".2f"),
                       ("vs_bare", "x bare loop", ".2f")],
                title=f"Training, model {s['sizes']}, batch {s['batch']}, {len(X)} segments")
    ratios = {"estimator_vs_bare": arrays / bare, "files_inline_vs_bare": inline / bare,
              "files_vs_bare": files / bare,
              "tuned_vs_default": tuned / default}
    print(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    result = {"machine": info, "settings": s, "rows": rows, "ratios": ratios}
    path = write_json(args.out, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
