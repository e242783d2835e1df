"""The repository is readable on its own: no tracked file points at a design document or data
outside it (the design is docs/design.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md")
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()


def tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and name != THIS_FILE]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for name in tracked_text_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images, histories
            continue
        offenders += [
            f"{name}:{number}: {line.strip()[:80]}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert offenders == []


def test_the_design_document_is_in_the_repository() -> None:
    assert "## The liquidation port" in (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
