"""`make bench`: run every benchmark under bench/, keep each one's JSON in bench/results/, print every figure.

Each bench/<name>.py prints one JSON document on stdout and exits non-zero when a target it enforces is missed.
A missed target never hides the numbers: every figure is printed, each target marked met or NOT MET, and only
then does this script exit 1. `--quick` is passed through: a smoke run on whatever data the database holds, with
no targets enforced (CI uses it); without it the scripts expect the 1M-customer data set (`make seed-bench`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [HERE / "directory.py", HERE / "profile.py"]
RESULTS = HERE / "results"

# Keys whose contents are context, not figures (they are in the JSON file).
CONTEXT_KEYS = {"method", "machine", "dataset", "plans", "targets", "checks", "enforced", "passed", "customers",
                "example", "kind", "benchmark", "bench", "mode"}
RATIO_KEYS = ("speedup", "ratio")


def run(scripts: list[Path], results: Path, extra: list[str], out=sys.stdout) -> int:
    """Run each script, save its JSON, print its figures and targets; 1 when any script failed or missed one."""
    results.mkdir(parents=True, exist_ok=True)
    failed = False
    for script in scripts:
        result = subprocess.run([sys.executable, str(script), *extra], capture_output=True, text=True,
                                cwd=HERE.parent)
        failed |= result.returncode != 0
        try:
            report = json.loads(result.stdout)
        except ValueError:
            report = None
        if report is None:  # it stopped before it measured anything: all there is to show is why
            print(f"\n== {script.stem}: no results (exit status {result.returncode}) ==", file=out)
            print("\n".join(result.stderr.strip().splitlines()[-20:]), file=out)
            continue
        path = results / f"{script.stem}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print("\n" + "\n".join(summarize(script.stem, report)), file=out)
        print(f"  full results: {path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path}",
              file=out)
    if failed:
        print("\nA target was missed or a benchmark failed (see above); the figures are all printed.", file=out)
    return 1 if failed else 0


def summarize(name: str, report: dict) -> list[str]:
    """Every figure of one benchmark's report, then each target with met / NOT MET."""
    mode = report.get("mode") or ("quick" if report.get("enforced") == [] else "")
    lines = [f"== {name}{f' ({mode})' if mode else ''} =="]
    if dataset := report.get("dataset"):
        lines.append("  data: " + ", ".join(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}"
                                            for key, value in dataset.items()))
    lines += [f"  {line}" for line in figures(report)]
    checks = targets(report)
    if checks:
        lines.append("  targets:")
        for check, value, met, enforced in checks:
            shown = "" if value is None else f" (measured {value})"
            note = "" if enforced else " [not enforced on this data]"
            lines.append(f"    {'met    ' if met else 'NOT MET'}  {check}{shown}{note}")
    return lines


def figures(report, path: tuple[str, ...] = ()) -> list[str]:
    """One line per measured timing (p50/p95/queries) and per ratio, labelled by where it sits in the report."""
    lines = []
    if isinstance(report, dict):
        if "p50_ms" in report:
            queries = report.get("queries_per_request")
            lines.append(f"{' / '.join(path)}: p50 {report['p50_ms']} ms, p95 {report.get('p95_ms')} ms"
                         + (f", {queries} queries" if queries is not None else "")
                         + (f" (n={report['n']})" if "n" in report else ""))
            return lines
        for key, value in report.items():
            if key in CONTEXT_KEYS:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key.startswith(RATIO_KEYS):
                lines.append(f"{' / '.join(path + (key,))}: {value}x")
            else:
                lines += figures(value, path + (key,))
    elif isinstance(report, list):
        for index, item in enumerate(report):
            label = str(item.get("shape") or item.get("name") or index) if isinstance(item, dict) else str(index)
            lines += figures(item, path + (label,))
    return lines


def targets(report: dict) -> list[tuple[str, object, bool, bool]]:
    """(check, measured value, met, enforced) from either report format the benchmarks use."""
    found = []
    block = report.get("targets")
    if isinstance(block, dict) and isinstance(block.get("checks"), list):  # bench/directory.py
        enforced = bool(block.get("enforced", True))
        found += [(c["check"], c.get("value"), bool(c["met"]), enforced) for c in block["checks"]]
    if isinstance(report.get("checks"), dict):  # bench/profile.py
        enforced = set(report.get("enforced", report["checks"]))
        found += [(name, None, bool(met), name in enforced) for name, met in report["checks"].items()]
    return found


def main() -> int:
    return run(SCRIPTS, RESULTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
