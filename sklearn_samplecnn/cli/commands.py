"""The ``samplecnn`` sub-commands: train, predict, extract, info."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..exceptions import SampleCNNError
from .io import _architecture, _audio_inputs, _check_device, _existing_file, _info, _training_data
from .parser import EXIT_FAILURE, EXIT_OK, OUTPUT_FORMATS, PROG, CLIError

__all__ = ["COMMANDS"]

def _cmd_train(args, argv: Sequence[str]) -> int:
    import numpy as np

    sizes, sr = _architecture(args)
    out = Path(args.output)
    if out.is_dir():
        raise CLIError(f"--output {args.output!r} is a folder, expected a file name")
    _check_device(args.device)
    paths, y, names, descr = _training_data(args)

    from ..estimators import SampleCNNClassifier, SampleCNNTagger
    from ..pretrained import save_pretrained

    cls = SampleCNNClassifier if args.task == "genre" else SampleCNNTagger
    params = {
        "sr": sr, "max_epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "device": args.device, "random_state": args.seed, "verbose": 0 if args.quiet else 1,
        "train_split": args.valid_fraction or None,
        "schedule": None if args.schedule == "none" else "paper",
        "on_error": args.on_error, "audio_cache": args.audio_cache,
        "module__sizes": "-".join(map(str, sizes)),
    }
    if args.channels is not None:
        params["module__channels"] = args.channels
    if args.workers:
        params["iterator_train__num_workers"] = args.workers
        params["iterator_valid__num_workers"] = args.workers
    est = cls(**params)
    what = "classes" if args.task == "genre" else "tags"
    print(f"{descr}; {len(names)} {what}: {', '.join(names[:12])}"
          f"{', ...' if len(names) > 12 else ''}", flush=True)
    est.fit(paths, y)
    if args.task == "tags":
        est.tags_ = np.array(names, dtype=object)  # the CSV's column names, not "0", "1", ...
    module = est.module_
    n_weights = sum(p.numel() for p in module.parameters())
    last = est.history_[-1]
    losses = ", ".join(f"{k} {last[k]:.4f}" for k in ("train_loss", "valid_loss") if k in last)
    command = " ".join([PROG, *argv])
    save_pretrained(est, out, metadata={"command": command,
                                        "source": args.folder or args.csv,
                                        "n_clips": len(paths) - len(est.skipped_files_)})
    print(f"trained {module.name} ({n_weights:,} weights, {module.input_length} samples at "
          f"{sr} Hz) for {len(est.history_)} epochs; {losses}")
    if est.skipped_files_:
        print(f"skipped {len(est.skipped_files_)} unreadable files")
    print(f"saved {out}")
    return EXIT_OK


def _check_headers(files: list[str], on_error: str) -> list[str]:
    """The files whose header reads; the others raise or are reported (``on_error``)."""
    from ..audio import audio_info
    from ..exceptions import AudioLoadError

    good, bad = [], []
    for f in files:
        try:
            audio_info(f)
            good.append(f)
        except AudioLoadError as exc:
            bad.append(exc)
    if bad:
        listing = "\n  ".join(str(e) for e in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        if on_error == "raise" or not good:
            raise CLIError(f"{len(bad)} of {len(files)} audio files cannot be read:\n  "
                           f"{listing}{more}", EXIT_FAILURE)
        _info(f"{PROG}: warning: left out {len(bad)} of {len(files)} files that cannot be "
              f"read:\n  {listing}{more}")
    return good


def _cmd_predict(args, argv: Sequence[str]) -> int:
    import numpy as np

    _existing_file(args.model, "MODEL")
    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    from ..pretrained import load_pretrained

    model = load_pretrained(args.model)
    params = {"device": args.device, "batch_size": args.batch_size}
    if args.workers:
        params["iterator_valid__num_workers"] = args.workers
    if args.threshold is not None:
        if model.config.get("task") != "tagger":
            raise CLIError("--threshold applies to taggers; this model is a "
                           f"{model.config.get('task')}")
        params["threshold"] = args.threshold
    est = model.to_estimator(**params)
    files = _check_headers(files, args.on_error)
    _info(f"predicting {len(files)} files with {model.name} ({args.model})")
    proba = est.predict_proba(files)
    tagger = model.config.get("task") == "tagger" and getattr(est, "multilabel_", False)
    names = [str(t) for t in (est.tags_ if tagger else est.classes_)]
    if tagger:
        column = "tags"
        predicted = ["|".join(n for n, on in zip(names, row) if on)
                     for row in proba >= est.threshold]
    else:
        column = "label"
        predicted = [names[i] for i in np.argmax(proba, axis=1)]
    header = ["path", column, *(f"prob_{n}" for n in names)]
    rows = ([f, p, *(f"{v:.6g}" for v in row)] for f, p, row in zip(files, predicted, proba))
    if args.output in (None, "-"):
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        sys.stdout.flush()
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        _info(f"wrote {len(files)} predictions to {args.output}")
    return EXIT_OK


def _sidecars(out: Path) -> tuple[Path, Path]:
    """``features.npy`` -> (``features.names.txt``, ``features.files.txt``)."""
    return out.with_suffix(".names.txt"), out.with_suffix(".files.txt")


def _cmd_extract(args, argv: Sequence[str]) -> int:
    out = Path(args.output)
    fmt = out.suffix.lower()
    if fmt not in OUTPUT_FORMATS:
        raise CLIError(f"--output {args.output!r}: the extension must be one of "
                       f"{', '.join(OUTPUT_FORMATS)}")
    if fmt == ".parquet":
        try:
            import pandas  # noqa: F401
            from pandas.io.parquet import get_engine

            get_engine("auto")
        except ImportError as exc:
            raise CLIError(f"--output {args.output!r}: writing .parquet needs pandas and "
                           f"pyarrow ({exc}); write .npy or .csv instead") from None
    for m in args.model:
        _existing_file(m, "--model")
    files = _audio_inputs(args.inputs, args.csv)
    _check_device(args.device)
    import numpy as np

    from ..features import MultiScaleFeatureTransformer

    feats = MultiScaleFeatureTransformer(
        extractors=list(args.model), layers=args.layers, pooling=args.pooling,
        cache_dir=args.cache_dir, batch_size=args.batch_size, device=args.device,
        n_jobs=args.jobs, on_error=args.on_error, verbose=0 if args.quiet else 1)
    try:
        feats.fit(files)
    except ValueError as exc:
        if isinstance(exc, SampleCNNError):  # PretrainedFileError: an invalid model file
            raise
        # a layer the model does not have, or the same layer twice
        layers = args.layers if isinstance(args.layers, str) else ",".join(map(str, args.layers))
        raise CLIError(f"--layers {layers}: {exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed files are listed below instead
        X = feats.transform(files)
    names = [str(n) for n in feats.get_feature_names_out()]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".npy":
        np.save(out, X)
        names_file, files_file = _sidecars(out)
        names_file.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        files_file.write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
        extra = f" (+ {names_file.name}, {files_file.name})"
    elif fmt == ".csv":
        with open(out, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["path", *names])
            writer.writerows([p, *(repr(float(v)) for v in row)] for p, row in zip(files, X))
        extra = ""
    else:
        import pandas as pd

        table = pd.DataFrame(X, columns=names)
        table.insert(0, "path", files)
        table.to_parquet(out, index=False)
        extra = ""
    if feats.failed_files_:
        _info(f"{PROG}: warning: {len(feats.failed_files_)} files could not be decoded; "
              f"their rows are {args.on_error}:\n  " + "\n  ".join(feats.failed_files_))
    _info(f"wrote {X.shape[0]} x {X.shape[1]} features to {out}{extra}")
    return EXIT_OK


def _summary(model, path: str) -> str:
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
        what = "tags" if task == "tagger" and cfg.get("multilabel", True) else "labels"
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
    _existing_file(args.model, "MODEL")
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
