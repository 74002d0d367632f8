"""Run every benchmark's quick (or smoke/full) version, one after the other.

    python benchmarks/run_all.py --quick      # what `make bench` runs (about 10 minutes)
    python benchmarks/run_all.py --full       # the full sizes (an hour or more on 2 cores)

Each script prints its table and writes ``bench_results/<name>.json``.
The benchmarks run one at a time: on a 2-core machine, two at once would
measure each other.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_forward.py", "bench_io.py", "bench_extract.py", "bench_train.py",
           "bench_make_music.py", "bench_distributed.py",
           "bench_transfer.py", "bench_cli_startup.py"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick sizes (default)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: only checks they run")
    mode.add_argument("--full", action="store_true", help="the full sizes")
    parser.add_argument("--out-dir", default="bench_results", help="folder for the JSON files")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    args = parser.parse_args(argv)
    flag = [] if args.full else ["--smoke"] if args.smoke else ["--quick"]
    failed = []
    for script in args.only or SCRIPTS:
        out = Path(args.out_dir) / (Path(script).stem + ".json")
        print(f"\n===== {script} {' '.join(flag)}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / script), *flag, "--out", str(out)])
        if rc:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
