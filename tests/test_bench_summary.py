"""`make bench` prints every figure and each target's met / NOT MET, even when a target is missed."""

import io
import json
import textwrap

from bench.run_all import run, summarize

DIRECTORY_LIKE = {
    "benchmark": "customer directory", "mode": "full", "dataset": {"customers": 1_000_001},
    "shapes": [{"shape": "name", "kind": "substring", "example": "/customers/?q=baker",
                "page": {"n": 200, "p50_ms": 18.0, "p95_ms": 27.69, "queries_per_request": 5},
                "api": {"n": 200, "p50_ms": 13.83, "p95_ms": 23.99, "queries_per_request": 5}}],
    "baseline": [{"shape": "name", "naive": {"n": 10, "p50_ms": 3582.0, "p95_ms": 3900.1},
                  "directory": {"n": 50, "p50_ms": 25.37, "p95_ms": 30.2}, "speedup_p50": 141.2}],
    "targets": {"checks": [{"check": "name: page p95 <= 15 ms", "value": 27.69, "met": False},
                           {"check": "name: >= 100x faster than naive", "value": 141.2, "met": True}],
                "all_met": False, "enforced": True},
}
PROFILE_LIKE = {
    "bench": "customer_profile", "dataset": {"customers": 1000},
    "results": {"framework_floor": {"n": 20, "p50_ms": 4.6, "p95_ms": 6.0, "queries_per_request": 2},
                "heavy_history": {"optimized_http": {"n": 20, "p50_ms": 13.4, "p95_ms": 17.9},
                                  "ratio_naive_to_optimized_p95": 50.2}},
    "checks": {"p95_le_25ms": True, "ratio_ge_20_heavy_history": True, "queries_per_page_le_10": False},
    "enforced": ["ratio_ge_20_heavy_history", "queries_per_page_le_10"],
}


def test_the_summary_shows_every_figure_and_marks_each_target():
    text = "\n".join(summarize("directory", DIRECTORY_LIKE))
    for figure in ("p50 18.0 ms, p95 27.69 ms", "p50 13.83 ms, p95 23.99 ms", "p50 3582.0 ms", "p50 25.37 ms",
                   "141.2x"):
        assert figure in text
    assert "name / page:" in text and "name / api:" in text
    assert "NOT MET  name: page p95 <= 15 ms (measured 27.69)" in text
    assert "met      name: >= 100x faster than naive (measured 141.2)" in text


def test_the_summary_reads_the_profile_report_too():
    text = "\n".join(summarize("profile", PROFILE_LIKE))
    assert "results / framework_floor: p50 4.6 ms, p95 6.0 ms, 2 queries" in text
    assert "results / heavy_history / optimized_http: p50 13.4 ms" in text
    assert "ratio_naive_to_optimized_p95: 50.2x" in text
    assert "NOT MET  queries_per_page_le_10" in text
    assert "met      p95_le_25ms [not enforced on this data]" in text


def _fake_benchmark(folder, name, report, exit_status=0):
    """A script that prints `report` as its JSON and exits like a benchmark would."""
    (folder / f"{name}.report").write_text(json.dumps(report))
    script = folder / f"{name}.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        print(Path(__file__).with_suffix(".report").read_text())
        sys.exit({exit_status})
    """))
    return script


def test_a_missed_target_keeps_its_figures_and_fails_after_printing_them(tmp_path):
    missed = _fake_benchmark(tmp_path, "fake_missed", DIRECTORY_LIKE, exit_status=1)
    crashed = tmp_path / "fake_crashed.py"
    crashed.write_text("import sys\nprint('No customers: load some first.', file=sys.stderr)\nsys.exit(2)\n")
    out = io.StringIO()
    status = run([missed, crashed], tmp_path / "results", [], out=out)
    text = out.getvalue()
    assert status == 1
    assert "p50 18.0 ms, p95 27.69 ms" in text and "NOT MET  name: page p95 <= 15 ms" in text
    assert "fake_crashed: no results (exit status 2)" in text and "No customers" in text
    assert json.loads((tmp_path / "results" / "fake_missed.json").read_text()) == DIRECTORY_LIKE


def test_all_targets_met_exits_zero(tmp_path):
    fine = _fake_benchmark(tmp_path, "fake_fine", PROFILE_LIKE)
    assert run([fine], tmp_path / "results", [], out=io.StringIO()) == 0
