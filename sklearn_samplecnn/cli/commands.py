"""The ``samplecnn`` sub-commands: train, predict, extract, info."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..exceptions import SampleCNNError
from ._dask_worker import WORKER_PRELOAD, quiet_dask_logs, workers_deaf_to_ctrl_c
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, PROG, CLIError
from .inputs import (
    _architecture,
    _audio_inputs,
    _check_device,
    _cli_warnings,
    _say,
    _training_data,
    count,
    is_store,
)
from .output import (
    WRITERS,
    csv_rows,
    per_file_targets,
    save_model,
    seconds,
    write_csv,
    writing,
    wrote,
)

__all__ = ["COMMANDS"]


def _cmd_train(args, argv: Sequence[str]) -> int:
    import numpy as np

    sizes, sr = _architecture(args)
    out = Path(args.output)
    _check_device(args.device)
    paths, y, names, descr = _training_data(args)

    from ..estimators import SampleCNNClassifier, SampleCNNTagger

    cls = SampleCNNClassifier if args.task == "genre" else SampleCNNTagger
    params = {
        "sr": sr, "max_epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "device": args.device, "random_state": args.seed, "verbose": 0 if args.quiet else 1,
        "train_split": args.valid_fraction or None,
        "schedule": None if args.schedule == "none" else "paper",
        "on_error": args.on_error, "audio_cache": args.audio_cache,
        "checkpoint_dir": args.checkpoint_dir, "threads": args.threads,
        "module__sizes": "-".join(map(str, sizes)),
    }
    if args.channels is not None:
        params["module__channels"] = args.channels
    est = cls(**params, n_jobs=args.jobs)
    what = "classes" if args.task == "genre" else "tags"
    print(f"{descr}; {len(names)} {what}: {', '.join(names[:12])}"
          f"{', ...' if len(names) > 12 else ''}", flush=True)
    if args.checkpoint_dir is not None:
        from ..estimators.checkpoint import FILENAME

        found = Path(args.checkpoint_dir).expanduser() / FILENAME
        if found.exists():  # fit refuses it when it belongs to another run
            _say(f"resuming from {found}")
    with _cli_warnings():  # skipped files, a cache that cannot be written...
        est.fit(paths, y)
    if args.task == "tags":
        est.tags_ = np.array(names, dtype=object)  # the CSV's column names, not "0", "1", ...
    module = est.module_
    n_weights = sum(p.numel() for p in module.parameters())
    finished = sum(1 for row in est.history_ if "dur" in row)  # epochs that ran to the end
    metadata = {"command": " ".join([PROG, *argv]), "source": args.folder or args.csv,
                "n_clips": len(paths) - len(est.failed_files_)}
    if est.interrupted_:
        resume = (f"; rerun the same command to resume from {args.checkpoint_dir}"
                  if args.checkpoint_dir else "")
        if args.save_interrupted:
            replaced = out.exists()
            save_model(est, out, {**metadata, "interrupted": True, "epochs": finished},
                        args.checkpoint_dir)
            what = f"saved the model as it stands to {out}" + (
                " (replaced the existing file)" if replaced else "")
        else:
            what = "no model written (--save-interrupted saves it)"
        _say(f"{PROG}: interrupted (Ctrl-C) after {count(finished, 'finished epoch')}; "
             f"{what}{resume}")
        return EXIT_INTERRUPTED
    last = est.history_[-1]
    losses = ", ".join(f"{k} {last[k]:.4f}" for k in ("train_loss", "valid_loss") if k in last)
    replaced = out.exists()
    save_model(est, out, metadata, args.checkpoint_dir)
    print(f"trained {module.name} ({n_weights:,} weights, {module.input_length} samples at "
          f"{sr} Hz) for {count(len(est.history_), 'epoch')}; {losses}")
    if est.failed_files_:
        print(f"skipped {count(len(est.failed_files_), 'file')} that could not be decoded")
    print(f"saved {out}" + (" (replaced the existing file)" if replaced else ""))
    return EXIT_OK


def _check_headers(files: list[str], on_error: str, sr: int) -> list[str]:
    """The files whose header reads; the others raise or are reported (``on_error``, the
    engine's :func:`~sklearn_samplecnn.engine.check_headers`)."""
    from ..engine import Clips, FailureReport, check_headers

    clips = Clips(files, "paths", sr=sr)
    report = FailureReport(clips, on_error)
    keep = check_headers(clips, report)
    if len(report):
        _say(f"{PROG}: warning: left out {len(report)} of {len(files)} files that cannot be "
             f"read:{report.listing()}")
    return [files[i] for i in keep]


def _nothing_decoded(n: int) -> CLIError:
    return CLIError(f"none of the {n} audio files could be decoded (listed above); nothing "
                    "written", EXIT_FAILURE)


def _write_per_file(folder: str, files: list[str], clip_index, header, rows: list) -> None:
    """``--per-file``: one CSV per input with its rows, which come clip by clip in
    ascending clip order (inputs that failed have no rows and get no file)."""
    import numpy as np

    targets = per_file_targets(files, folder)
    clips, first = np.unique(clip_index, return_index=True)
    ends = [*first[1:].tolist(), len(clip_index)]
    for clip, a, b in zip(clips.tolist(), first.tolist(), ends):
        write_csv(targets[clip], header, rows[a:b])
    _say(f"wrote {count(len(clips), 'CSV file')} (one per input) to {folder}")


def _cmd_predict(args, argv: Sequence[str]) -> int:
    import numpy as np

    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    from ..pretrained import TAGGER, load_pretrained

    model = load_pretrained(args.model)
    batch_size = args.batch_size
    if batch_size == "auto":
        from ..nn import auto_batch_size

        batch_size = max(2, auto_batch_size(args.device, model.module))
    params = {"device": args.device, "batch_size": batch_size, "on_error": args.on_error,
              "threads": args.threads, "n_jobs": args.jobs}
    if args.threshold is not None:
        if model.task != TAGGER:
            raise CLIError("--threshold applies to taggers; this model is a "
                           f"{model.config.get('task')}")
        params["threshold"] = args.threshold
    if args.top is not None and args.top > len(model.labels):
        raise CLIError(f"--top {args.top}: the model has {len(model.labels)} "
                       f"{'tags' if model.task == TAGGER else 'labels'}")
    from ..estimators import from_pretrained

    est = from_pretrained(model, **params)
    n_inputs = len(files)
    files = _check_headers(files, args.on_error, model.sample_rate)
    per_segment = args.per_segment or args.per_file is not None
    _say(f"predicting {count(len(files), 'file')} with {model.name} ({args.model})")
    with _cli_warnings():  # files whose body fails to decode (--on-error skip)
        if per_segment:
            seg = est.predict_proba_segments(files)
            proba, clip_index = seg.proba, seg.clip
            lead = [[p, seconds(s), seconds(e)] for p, s, e in zip(seg.path, seg.start,
                                                                     seg.end)]
        else:
            proba = est.predict_proba(files)
            clip_index = np.flatnonzero(~np.isnan(proba).any(axis=1))
            proba = proba[clip_index]
            lead = [[files[i]] for i in clip_index]
    if est.failed_files_ and len(est.failed_files_) == len(files):
        raise _nothing_decoded(len(files))
    tagger = model.task == TAGGER and getattr(est, "multilabel_", False)
    names = [str(t) for t in (est.tags_ if tagger else est.classes_)]
    if args.top is not None:
        column = "top_tags" if tagger else "top_labels"
        order = np.argsort(-proba, axis=1, kind="stable")[:, :args.top]
        predicted = ["|".join(names[j] for j in row) for row in order]
    elif tagger:
        column = "tags"
        predicted = ["|".join(n for n, on in zip(names, row) if on)
                     for row in proba >= est.threshold]
    else:
        column = "label"
        predicted = [names[i] for i in np.argmax(proba, axis=1)]
    header = ["path", *(["start", "end"] if per_segment else []), column,
              *(f"prob_{n}" for n in names)]
    rows = [[*first, p, *(f"{v:.6g}" for v in row)]
            for first, p, row in zip(lead, predicted, proba)]
    skipped = n_inputs - len(files) + len(est.failed_files_)
    if args.per_file is not None:
        with writing("--per-file", args.per_file):
            _write_per_file(args.per_file, files, clip_index, header, rows)
    elif args.output in (None, "-"):
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        sys.stdout.flush()
    else:
        what = count(len(rows), f"{'segment ' if per_segment else ''}prediction")
        with writing("--output", args.output):
            replaced = write_csv(args.output, header, rows)
        wrote(what, args.output, replaced)
    if skipped:
        _say(f"{PROG}: warning: {skipped} of {n_inputs} files could not be decoded and are "
              "left out (listed above)")
    return EXIT_OK


@contextlib.contextmanager
def _dask_client(address: str | None, workers: int | None, quiet: bool):
    """A Dask client for ``--dask`` (``None`` without it), closed on the way out."""
    if address is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise CLIError(f"--dask needs dask.distributed ({exc}); pip install "
                       '"sklearn-samplecnn[distributed]"') from None
    cluster = None
    if address == "local":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
        with workers_deaf_to_ctrl_c():
            cluster = LocalCluster(n_workers=workers or cores, threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   preload=[WORKER_PRELOAD])
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="30s")
        except OSError as exc:
            raise CLIError(f"--dask {address}: cannot reach the scheduler ({exc})",
                           EXIT_FAILURE) from None
    interrupted = False
    try:
        if not quiet:
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
            _say(f"Dask: {count(n_workers, 'worker')} at {client.scheduler.address}, "
                 f"dashboard {client.dashboard_link}")
        yield client
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        with quiet_dask_logs(interrupted), _quiet_nannies():
            client.close()
            if cluster is not None:
                cluster.close()


class _NannyKills(logging.Filter):
    """Drops the nannies' "Worker process still alive after 4.0 seconds, killing" and
    "... was killed by signal 9": what stopping our own LocalCluster does to a worker still
    busy (after an error or Ctrl-C), not news for the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("killing" in text or "was killed by signal" in text)


@contextlib.contextmanager
def _quiet_nannies():
    logger, quiet = logging.getLogger("distributed.nanny"), _NannyKills()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _cmd_extract(args, argv: Sequence[str]) -> int:
    out = fmt = None
    store = args.output is not None and is_store(args.output)
    if args.output is not None:
        out = Path(args.output)
        fmt = out.suffix.lower()
    if store:
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError as exc:
            raise CLIError(f"--output {args.output!r}: a feature store needs pyarrow ({exc}); "
                           "install 'sklearn-samplecnn[distributed]' or write .npy or .csv "
                           "instead") from None
    if fmt is not None and not store:
        check = WRITERS[fmt].check
        missing = check() if check is not None else None
        if missing is not None:
            raise CLIError(f"--output {args.output!r}: {missing}")
    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    with _dask_client(args.dask, args.dask_workers, args.quiet) as client:
        return _extract(args, files, out, store, client)


def _extract(args, files: list[str], out: Path | None, store: bool, client) -> int:
    """``extract``'s work once its arguments are checked: fit, transform, write."""
    import numpy as np

    per_segment = args.per_segment or args.per_file is not None
    fmt = None if out is None else out.suffix.lower()

    from ..features import MultiScaleFeatureTransformer

    zeros = args.on_error == "zeros"
    if args.on_error in ("nan", "zeros"):
        _say(f"{PROG}: warning: --on-error {args.on_error} is deprecated; use --on-error skip "
             "(NaN rows)")
    feats = MultiScaleFeatureTransformer(
        extractors=list(args.model), layers=args.layers, pooling=args.pooling,
        cache_dir=args.cache_dir, batch_size=args.batch_size, device=args.device,
        n_jobs=args.jobs, on_error="raise" if args.on_error == "raise" else "skip",
        threads=args.threads,
        verbose=0 if args.quiet else 1, dask_client=client, shard_size=args.shard_size)
    try:
        feats.fit(files)
    except ValueError as exc:
        if isinstance(exc, SampleCNNError):  # PretrainedFileError: an invalid model file
            raise
        # a layer the model does not have, or the same layer twice
        layers = args.layers if isinstance(args.layers, str) else ",".join(map(str, args.layers))
        raise CLIError(f"--layers {layers}: {exc}") from None
    if store:
        from ..features import write_feature_store

        with _cli_warnings(), writing("--output", args.output):  # failed files as warnings
            done = write_feature_store(feats, files, out)
        reused = f", {done.reused} kept from an earlier run" if done.reused else ""
        _say(f"wrote {len(files)} x {feats.n_features_out_} features to the feature store "
             f"{out} ({count(done.n_shards, 'shard')}: {done.computed} computed{reused})")
        return EXIT_OK
    with _cli_warnings():  # failed files (with their causes), a cache that cannot be written
        if per_segment:
            (seg,) = feats.transform_segments(files)
            X, names, paths, clip_index = seg.features, seg.feature_names, seg.path, seg.clip
            times = {"start": seg.start, "end": seg.end}
        else:
            X, names, paths, times = feats.transform(files), feats.get_feature_names_out(), \
                files, {}
            clip_index = np.arange(len(files))
            if zeros:  # the deprecated --on-error zeros
                failed = set(feats.failed_files_)
                X[[i for i, f in enumerate(files) if f in failed]] = 0.0
    if feats.failed_files_ and len(feats.failed_files_) == len(files):
        raise _nothing_decoded(len(files))
    names = [str(n) for n in names]
    lead = ["path", *times]
    if args.per_file is not None:
        with writing("--per-file", args.per_file):
            _write_per_file(args.per_file, files, clip_index, [*lead, *names],
                            csv_rows(paths, times, X))
        return EXIT_OK
    with writing("--output", args.output):
        replaced = out.exists()
        extra = WRITERS[fmt].write(out, X, names, paths, times)
    wrote(f"{X.shape[0]} x {X.shape[1]} features", out, replaced, extra)
    return EXIT_OK


def _summary(model, path: str) -> str:
    from ..pretrained import TAGGER

    cfg = model.config
    module_cfg = cfg.get("module_config", {})
    n_weights = sum(p.numel() for p in model.module.parameters())
    lines = [("file", path),
             ("model", f"{cfg.get('module_class')} {model.name}, {n_weights:,} weights")]
    for key in ("sizes", "channels"):
        if key in module_cfg:
            lines.append((key, "-".join(map(str, module_cfg[key])) if key == "sizes"
                          else ",".join(map(str, module_cfg[key]))))
    sr, length = model.sample_rate, model.input_length
    lines.append(("input", f"{length} samples at {sr} Hz ({length / sr:.3f} s per segment)"))
    labels = [str(v) for v in model.labels]
    task = cfg.get("task") or "bare module (features only)"
    if labels:
        what = "tags" if task == TAGGER and cfg.get("multilabel", True) else "labels"
        task = f"{task}, {len(labels)} {what}: {', '.join(labels)}"
    lines.append(("task", task))
    if cfg.get("estimator"):
        lines.append(("estimator", ", ".join(f"{k}={v}" for k, v in cfg["estimator"].items())))
    for key, value in (cfg.get("training") or {}).items():
        lines.append((f"training.{key}", f"{value:.4g}" if isinstance(value, float)
                      else str(value)))
    lines.append(("library", f"sklearn-samplecnn {cfg.get('library_version')} "
                             f"({cfg.get('format')})"))
    lines.append(("weights", f"sha256 {cfg.get('weights_sha256')}"))
    width = max(len(k) for k, _ in lines) + 2
    return "\n".join(f"{k + ':':<{width}}{v}" for k, v in lines)


def _cmd_info(args, argv: Sequence[str]) -> int:
    from ..pretrained import load_pretrained

    model = load_pretrained(args.model)
    if args.json:
        print(json.dumps(model.config, indent=2, sort_keys=False))
    else:
        print(_summary(model, args.model))
    return EXIT_OK


#: Sub-command name -> function(args, argv) returning the exit status.
COMMANDS = {"train": _cmd_train, "predict": _cmd_predict, "extract": _cmd_extract,
            "info": _cmd_info}
