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


def test_code_and_templates_cite_no_document_outside_the_repository():
    texts = [path for pattern in ("*/**/*.py", "templates/**/*.html", "static/portal/*.js", "Makefile", ".ci/run",
                                  "docker-compose.yml", "deploy/*")
             for path in ROOT.glob(pattern)
             if not path.is_relative_to(ROOT / ".venv") and path.name != "test_readme.py" and path.is_file()]
    assert len(texts) > 50
    offenders = [str(path.relative_to(ROOT)) for path in texts
                 if re.search(r"\bDESIGN(?:\.md)? §|\.\./shared|\bSTYLE\.md\b", path.read_text(errors="ignore"))]
    assert offenders == []
