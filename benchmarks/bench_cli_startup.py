"""How fast the ``samplecnn`` command answers: help, usage errors and a first real command.

Each row starts a fresh interpreter (``python -m sklearn_samplecnn.cli ...``, as the
console script does) and times it to exit, against ``python -c pass`` measured in the
same run: the ratio is what the command costs over a bare interpreter start on this
machine, whatever its load. ``--help`` and usage errors must not import torch (nor
restart with ``GLIBC_TUNABLES``); ``info`` on a model file is real work (torch) and is
timed with and without the restart, to show what the restart costs.

    python benchmarks/bench_cli_startup.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_common_arguments, machine_info, print_table, write_json

#: name -> (arguments after the interpreter, restart allowed)
CASES = {
    "python -c pass": (["-c", "pass"], False),
    "import sklearn_samplecnn": (["-c", "import sklearn_samplecnn"], False),
    "samplecnn --help": (["-m", "sklearn_samplecnn.cli", "--help"], True),
    "samplecnn predict missing.wav": (["-m", "sklearn_samplecnn.cli", "predict",
                                       "missing.wav"], True),
    "samplecnn predict MODEL missing.wav": (["-m", "sklearn_samplecnn.cli", "predict",
                                             "{model}", "missing.wav"], True),
    "samplecnn train --sizes 3-x (usage error)": (["-m", "sklearn_samplecnn.cli", "train",
                                                   "--sizes", "3-x", "-o", "m.samplecnn",
                                                   "folder"], True),
    "samplecnn info MODEL (torch, restart)": (["-m", "sklearn_samplecnn.cli", "info",
                                               "{model}"], True),
    "samplecnn info MODEL (torch, no restart)": (["-m", "sklearn_samplecnn.cli", "info",
                                                  "{model}"], False),
}
SMOKE = ("python -c pass", "samplecnn --help", "samplecnn predict missing.wav")


def tiny_model(folder: Path) -> Path:
    """A small model file for ``info`` and ``predict MODEL``."""
    from sklearn_samplecnn import save_pretrained
    from sklearn_samplecnn.nn import SampleCNN

    path = folder / "tiny.samplecnn"
    save_pretrained(SampleCNN("3-3-3", channels=[4] * 4, n_outputs=2), path,
                    metadata={"sample_rate": 8000})
    return path


def time_command(args: list[str], restart: bool, repeats: int, cwd: Path) -> dict:
    """Wall seconds of ``python <args>`` from start to exit, ``repeats`` times."""
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES",
                                                             "SAMPLECNN_NO_REEXEC")}
    if not restart:
        env["SAMPLECNN_NO_REEXEC"] = "1"
    times, code = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        code = proc.returncode
    return {"best_s": min(times), "median_s": statistics.median(times), "repeats": repeats,
            "exit_status": code}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "bench_results/bench_cli_startup.json")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per row (default: 2 smoke, 5 quick, 15 full)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    repeats = args.repeats or {"smoke": 2, "quick": 5, "full": 15}[mode]
    names = SMOKE if args.smoke else tuple(CASES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(tiny_model(tmp)) if any("{model}" in " ".join(CASES[n][0])
                                            for n in names) else ""
        for name in names:
            call, restart = CASES[name]
            call = [a.replace("{model}", model) for a in call]
            rows.append({"command": name, "restart_allowed": restart,
                         **time_command(call, restart, repeats, tmp)})
    base = rows[0]["best_s"]
    for r in rows:
        r["x_python_start"] = r["best_s"] / base
    print_table(rows, [("command", "command"), ("best_s", "best s", ".3f"),
                       ("median_s", "median s", ".3f"), ("x_python_start", "x python -c pass",
                                                         ".1f"),
                       ("exit_status", "exit")],
                title=f"samplecnn start-up, best of {repeats} (interpreter start included)")
    ratios = {r["command"]: r["x_python_start"] for r in rows[1:]}
    out = write_json(args.out, {"benchmark": "bench_cli_startup", "mode": mode,
                                "machine": machine_info(("numpy", "torch")), "rows": rows,
                                "ratios": ratios, "baseline_s": base})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
