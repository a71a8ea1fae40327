"""Regenerate the packaged solvability tables of the built-in rules.

Usage: python scripts/build_solution_tables.py

Writes src/cardenvs/data/solutions-<rule>.json: every solvable multiset of card
values mapped to one solution, plus the rule's fingerprint (a table whose
fingerprint no longer matches its rule is ignored at run time and recomputed).
Files are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from cardenvs.rules import RULES
from cardenvs.solver import table_payload
from oodgym.atomic import write_text_atomic

BUILT_IN = ("face-10", "face-11-12-13")
OUT = Path(__file__).resolve().parent.parent / "src" / "cardenvs" / "data"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in BUILT_IN:
        payload = table_payload(RULES.resolve(name))
        path = OUT / f"solutions-{name}.json"
        write_text_atomic(path, json.dumps(payload, indent=0, sort_keys=True) + "\n")
        print(f"{path.relative_to(OUT.parent.parent.parent)}: {len(payload['solutions'])} hands")


if __name__ == "__main__":
    main()
