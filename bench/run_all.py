"""`make bench`: run every benchmark under bench/ and print one JSON document.

Each bench/<name>.py prints JSON on stdout. `--quick` is passed through: a smoke run on whatever data the
database holds, with no targets enforced (CI uses it); without it the scripts expect the 1M-customer data set
(`make seed-bench`) and report whether each target was met.
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["directory.py", "profile.py"]


def main() -> int:
    extra = sys.argv[1:]
    report, failed = {}, False
    for script in SCRIPTS:
        path = HERE / script
        result = subprocess.run([sys.executable, str(path), *extra], capture_output=True, text=True,
                                cwd=HERE.parent)
        if result.returncode != 0:
            failed = True
            report[path.stem] = {"error": result.stderr.strip().splitlines()[-20:]}
            continue
        report[path.stem] = json.loads(result.stdout)
    print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
