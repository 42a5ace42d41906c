"""The kernel (portal/) stands under the feature apps, never on them: it imports no demo data and no feature app's
code beyond its models. Feature apps plug in through strings (`include("customers.urls")`, ForeignKey targets such
as "customers.Customer"), which this check does not see and does not need to."""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
KERNEL = ROOT / "portal"
FEATURE_APPS = ("customers", "subscriptions", "payments", "support", "segments", "privacy")
# What a feature app's code the kernel may import: its models (the audit's customer links, for example). Its
# services, selectors, views or demo data never: those stand on the kernel, not under it.
FEATURE_MODULES_ALLOWED = ("models",)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from customers import services` imports customers.services: judge each imported name.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _refusal(module: str) -> str | None:
    top, _, rest = module.partition(".")
    if top == "demo":
        return "the demo data generator"
    if top in FEATURE_APPS:
        if rest.split(".")[0] == "seed" or ".seed" in f".{rest}":
            return "demo data code"
        if rest.split(".")[0] not in FEATURE_MODULES_ALLOWED:
            return f"feature app code other than {'/'.join(FEATURE_MODULES_ALLOWED)}"
    return None


def kernel_import_violations(kernel: Path = KERNEL) -> list[str]:
    violations = []
    for path in sorted(kernel.rglob("*.py")):
        for line, module in _imported_modules(path):
            if reason := _refusal(module):
                violations.append(f"{path.relative_to(kernel.parent)}:{line} imports {module} ({reason})")
    return violations


def test_the_kernel_imports_no_demo_data_and_no_feature_app_code():
    assert kernel_import_violations() == []


def test_the_check_sees_the_imports_it_forbids(tmp_path):
    kernel = tmp_path / "portal"
    (kernel / "sub").mkdir(parents=True)
    (kernel / "ok.py").write_text("import json\nfrom customers.models import Customer\nfrom portal import roles\n")
    (kernel / "sub" / "bad.py").write_text(
        "import demo.seed.ddl\n"
        "from demo.seed import pipeline\n"
        "from customers.seed import names\n"
        "from customers import services\n"
        "def f():\n"
        "    from payments.selectors import invoice_page\n"
    )
    found = kernel_import_violations(kernel)
    assert [entry.split(" imports ")[1].split(" (")[0] for entry in found] == [
        "demo.seed.ddl", "demo.seed.pipeline", "customers.seed.names", "customers.services",
        "payments.selectors.invoice_page",
    ]
    assert all(entry.startswith("portal/sub/bad.py:") for entry in found)


def test_demo_is_an_installed_app_and_owns_seed_demo():
    from django.core.management import get_commands

    assert "demo" in settings.INSTALLED_APPS
    assert get_commands()["seed_demo"] == "demo"
