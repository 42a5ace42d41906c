"""Screenshots for the README: signs in as the demo manager and captures the main pages in headless Chromium.

Usage (with `make run` serving on PORT, default 8000):
    .venv/bin/python docs/take_screenshots.py [--base http://127.0.0.1:8000] [--only login,audit]
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PAGES = {"customers": "/customers/", "audit": "/audit/", "access-log": "/audit/access/?user=agent", "settings": "/settings/"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="manager")
    parser.add_argument("--password", default="demo-pass-123")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    wanted = set(filter(None, args.only.split(","))) or {"login", *PAGES}
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{args.base}/accounts/login/")
        if "login" in wanted:
            page.screenshot(path=OUT / "login.png")
        page.get_by_label("Username").fill(args.user)
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        for name, path in PAGES.items():
            if name in wanted:
                page.goto(args.base + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=OUT / f"{name}.png", full_page=False)
                print(f"saved {OUT / (name + '.png')}")
        browser.close()


if __name__ == "__main__":
    main()
