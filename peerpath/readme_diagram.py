"""Keeps the README's copy of the state diagram equal to the transition table.

`python -m peerpath.readme_diagram --write` (or `make diagram`) rewrites it; a test fails when stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lifecycle.machine import mermaid_diagram

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(
    r"(<!-- state-diagram:start -->\n```mermaid\n)(.*?)(```\n<!-- state-diagram:end -->)", re.DOTALL
)


def readme_copy(text: str) -> str | None:
    match = BLOCK.search(text)
    return match.group(2) if match else None


def write(path: Path = README) -> bool:
    text = path.read_text(encoding="utf-8")
    if readme_copy(text) is None:
        raise SystemExit(f"{path} has no state-diagram block")
    updated = BLOCK.sub(lambda m: m.group(1) + mermaid_diagram() + m.group(3), text)
    path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    if "--write" in sys.argv:
        print("README diagram updated" if write() else "README diagram already current")
    else:
        print(mermaid_diagram(), end="")
