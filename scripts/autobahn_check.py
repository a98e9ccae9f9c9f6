#!/usr/bin/env python3
"""Summarises an Autobahn report (index.json written by kosoku) and fails unless every case
ended OK or INFORMATIONAL, both in behaviour and in closing behaviour.

Usage: autobahn_check.py REPORT_DIR [--allow GLOB ...]
Cases matching an --allow glob are listed but do not fail the run.
"""

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

PASSING = {"OK", "INFORMATIONAL"}


def case_key(case_id: str) -> tuple:
    return tuple(int(part) for part in case_id.split("."))


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    report = Path(args[0]) / "index.json"
    allowed = [args[i + 1] for i, a in enumerate(args) if a == "--allow"]
    index = json.loads(report.read_text())
    failures = []
    total = 0
    for agent, cases in index.items():
        counts = Counter()
        for case_id in sorted(cases, key=case_key):
            result = cases[case_id]
            behavior, closing = result["behavior"], result["behaviorClose"]
            counts[behavior] += 1
            total += 1
            if behavior in PASSING and closing in PASSING:
                continue
            if any(fnmatch.fnmatch(case_id, pattern) for pattern in allowed):
                continue
            failures.append((agent, case_id, behavior, closing))
        summary = ", ".join(f"{n} {b}" for b, n in sorted(counts.items()))
        print(f"autobahn: {agent}: {sum(counts.values())} cases: {summary}")
    for agent, case_id, behavior, closing in failures:
        print(f"autobahn: FAILED {agent} case {case_id}: behavior {behavior}, close {closing}")
    if total == 0:
        print("autobahn: the report holds no cases", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
