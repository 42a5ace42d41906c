"""Screenshots for the README: signs in as the demo manager and captures the main pages in headless Chromium.

Usage (with `make run` serving on PORT, default 8000):
    .venv/bin/python docs/take_screenshots.py [--base http://127.0.0.1:8000] [--only login,audit] [--term son]
    .venv/bin/python docs/take_screenshots.py --only none --page invoice-paid=/invoices/inv_…/ \
        --pdf invoice-paid-pdf=/invoices/inv_…/pdf

Besides the pages as they open, the send-email dialog with its preview (opened from an active customer's header)
and a profile's Emails tab, and the header search as an agent uses it: `/` then a term typed on the directory
(the list is the live result) and on a profile (the dropdown of first matches, the second one selected), and
the directory in an 800 px window (the sidebar collapsed to icons).
Subscriptions: a few cancels walked through the dialog first (offers accepted and declined, so the retention report
has figures), then the Subscriptions tab with its action menu (a customer who took a cheaper plan at renewal), the
change-plan dialog with its preview, the cancel dialog's offer step, and the retention report.
The card-update link: the agent's confirm dialog, then the page the emailed link opens (read from the customer's
Emails tab), in a browser without a session: the form, the saved card, and the link once used.
`--page NAME=PATH` captures any other page (the whole page, not only the first screen); `--pdf NAME=PATH` downloads
a PDF as the signed-in user and renders its first page to NAME.png with poppler's `pdftoppm` (apt package
poppler-utils).
"""

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PAGES = {"directory": "/customers/", "customers-by-mrr": "/customers/?sort=-mrr",
         "customers-not-billing": "/customers/?status=active&sort=mrr", "audit": "/audit/",
         "access-log": "/audit/access/?user=agent", "settings": "/settings/", "approvals": "/approvals/"}
DYNAMIC = {"trial-profile": "trial"}  # a customer in this subscription state, found through the API
SEARCH_SHOTS = ("directory-search", "profile-search", "directory-800")
EMAIL_SHOTS = ("email-dialog", "profile-emails")
CARD_LINK_SHOTS = ("card-link-dialog", "card-link-form", "card-link-saved", "card-link-used")
MONEY_SHOTS = ("payments-tab", "refund-dialog", "refund-needs-approval", "credit-dialog")
SUBSCRIPTION_SHOTS = ("subscription-tab", "change-plan-dialog", "cancel-offer", "retention")
# The cancels the subscription shots walk through first, so the retention report has something to show:
# (reason, what the customer says to the offer).
RETENTION_WALK = (("not_using", "accept"), ("too_expensive", "accept"), ("missing_feature", "accept"),
                  ("not_using", "decline"), ("switching", "decline"), ("technical", "decline"),
                  ("too_expensive", "decline"), ("missing_feature", "decline"))


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in values)


def _pdf_first_page_png(pdf: bytes, target: Path) -> None:
    if not shutil.which("pdftoppm"):
        raise SystemExit("pdftoppm not found: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(source),
                        str(target.with_suffix(""))], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="manager")
    parser.add_argument("--password", default="demo-pass-123")
    parser.add_argument("--only", default="")
    parser.add_argument("--page", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--pdf", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--term", default="son", help="what to type into the search box")
    args = parser.parse_args()
    wanted = set(filter(None, args.only.split(","))) or {"login", *PAGES, *SEARCH_SHOTS, *DYNAMIC, *EMAIL_SHOTS,
                                                            *CARD_LINK_SHOTS, *MONEY_SHOTS, *SUBSCRIPTION_SHOTS}
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
        for name, path in _pairs(args.page).items():
            page.goto(args.base + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=OUT / f"{name}.png", full_page=True)
            print(f"saved {OUT / (name + '.png')}")
        for name, path in _pairs(args.pdf).items():
            response = page.request.get(args.base + path)
            if not response.ok:
                raise SystemExit(f"{path}: HTTP {response.status}")
            _pdf_first_page_png(response.body(), OUT / f"{name}.png")
            print(f"saved {OUT / (name + '.png')}")
        search_shots(page, args, wanted)
        email_shots(page, args, wanted)
        card_link_shots(browser, page, args, wanted)
        money_shots(page, args, wanted)
        subscription_shots(page, args, wanted)
        for name, state in DYNAMIC.items():
            if name in wanted and (public_id := _customer_in_state(page, args.base, state)):
                page.goto(f"{args.base}/customers/{public_id}/")
                page.wait_for_load_state("networkidle")
                page.locator("#profile-header").screenshot(path=OUT / f"{name}.png")
                print(f"saved {OUT / (name + '.png')}")
        browser.close()


def search_shots(page, args, wanted) -> None:
    def save(name):
        page.screenshot(path=OUT / f"{name}.png", full_page=False)
        print(f"saved {OUT / (name + '.png')}")

    def search(term):
        page.keyboard.press("/")
        page.locator("#global-search").press_sequentially(term, delay=60)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(400)  # past the debounce, and the swap settled

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{args.base}/customers/")
    page.wait_for_load_state("networkidle")
    profile = page.locator("tbody[data-row-list] tr").first.get_attribute("data-row-href")
    if "directory-search" in wanted:
        search(args.term)
        save("directory-search")
    if "profile-search" in wanted:
        page.goto(args.base + profile)
        page.wait_for_load_state("networkidle")
        search(args.term)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        save("profile-search")
    if "directory-800" in wanted:
        page.set_viewport_size({"width": 800, "height": 900})
        page.goto(f"{args.base}/customers/")
        page.wait_for_load_state("networkidle")
        save("directory-800")


def money_shots(page, args, wanted) -> None:
    """An active customer's Payments tab (refund and retry buttons, disabled ones with their reason), the refund
    dialog with the policy's answer for a small and for an out-of-window amount, and the credit dialog."""
    if not wanted & set(MONEY_SHOTS):
        return
    page.set_viewport_size({"width": 1400, "height": 900})
    rows = page.request.get(f"{args.base}/api/v1/customers?status=active&storefront=web&per_page=100").json()
    for row in rows["results"]:
        payments = page.request.get(f"{args.base}/api/v1/customers/{row['id']}/payments").json()["results"]
        refundable = [p for p in payments if p["status"] == "succeeded"]
        if len(refundable) >= 2:
            break
    else:
        return
    page.goto(f"{args.base}/customers/{row['id']}/payments/")
    page.wait_for_load_state("networkidle")
    if "payments-tab" in wanted:
        page.screenshot(path=OUT / "payments-tab.png", full_page=False)
        print(f"saved {OUT / 'payments-tab.png'}")
    for name, payment in (("refund-dialog", refundable[0]), ("refund-needs-approval", refundable[-1])):
        if name not in wanted:
            continue
        page.get_by_role("link", name=f"Refund payment {payment['id']}").click()
        page.locator("#refund-verdict").wait_for()
        if name == "refund-dialog":
            page.get_by_label("Amount to refund").fill("5.00")
            page.wait_for_timeout(600)
        page.screenshot(path=OUT / f"{name}.png", full_page=False)
        print(f"saved {OUT / (name + '.png')}")
        page.keyboard.press("Escape")
    if "credit-dialog" in wanted:
        page.get_by_role("link", name="Credit…").click()
        page.locator("#credit-form").wait_for()
        page.screenshot(path=OUT / "credit-dialog.png", full_page=False)
        print(f"saved {OUT / 'credit-dialog.png'}")


def _save(page, name: str) -> None:
    page.screenshot(path=OUT / f"{name}.png", full_page=False)
    print(f"saved {OUT / (name + '.png')}")


def _cancellable(page, base: str, count: int) -> list[str]:
    """Active customers whose Subscriptions tab offers "Cancel…" (no payment in flight), up to `count`."""
    found = []
    rows = page.request.get(f"{base}/api/v1/customers?status=active&storefront=web&per_page=100").json()["results"]
    for row in rows:
        if row["subscription"]["state"] != "active":
            continue
        page.goto(f"{base}/customers/{row['id']}/subscriptions/")
        if page.get_by_role("link", name="Cancel…", exact=True).count():
            found.append(row["id"])
            if len(found) == count:
                break
    return found


def _open_cancel(page, reason_label: str) -> None:
    page.get_by_role("link", name="Cancel…", exact=True).click()
    dialog = page.locator("#subscription-dialog")
    dialog.get_by_label(reason_label, exact=True).check()
    dialog.get_by_role("button", name="Continue").click()
    page.locator("#retention-offer, #subscription-live").first.wait_for()


def subscription_shots(page, args, wanted) -> None:
    if not wanted & set(SUBSCRIPTION_SHOTS):
        return
    page.set_viewport_size({"width": 1400, "height": 900})
    labels = {"not_using": "Not using it", "too_expensive": "Too expensive", "missing_feature": "Missing a feature",
              "switching": "Switching to another provider", "technical": "Technical problem"}
    customers = _cancellable(page, args.base, len(RETENTION_WALK) + 10)
    if len(customers) < len(RETENTION_WALK) + 2:
        print("not enough active customers who can cancel for the subscription shots")
        return
    kept = {}  # customers who took a cheaper plan or a discount: their tab says what is planned
    for (reason, answer), customer in zip(RETENTION_WALK, customers):
        page.goto(f"{args.base}/customers/{customer}/subscriptions/")
        _open_cancel(page, labels[reason])
        dialog = page.locator("#subscription-dialog")
        if answer == "accept" and dialog.locator("#retention-offer").count():
            offer = dialog.locator("#retention-offer").inner_text()
            kept["downgrade" if "from the next renewal" in offer else "discount" if "% off" in offer else "pause"] = \
                customer
            dialog.get_by_role("button", name="Accept the offer").click()
        else:
            if dialog.locator("#retention-offer").count():
                dialog.get_by_role("button", name="Decline and continue to cancel").click()
            dialog.locator("#subscription-live").wait_for()
            dialog.get_by_role("button", name="Cancel subscription").click()
        page.wait_for_load_state("networkidle")
    tab_customer = kept.get("downgrade") or kept.get("discount") or customers[len(RETENTION_WALK)]
    # A middle plan if there is one: a bigger plan to move up to (the preview charges) and a cheaper one to offer.
    dialog_customer, best = customers[-1], -1
    for customer in customers[len(RETENTION_WALK):]:
        page.goto(f"{args.base}/customers/{customer}/subscriptions/")
        plan = page.locator(".subscription-actions-label").inner_text()
        score = 2 if plan.startswith("Standard") else 0 if plan.startswith("Premium") else 1
        if score > best:
            dialog_customer, best = customer, score
    if "subscription-tab" in wanted:
        page.goto(f"{args.base}/customers/{tab_customer}/subscriptions/")
        page.wait_for_load_state("networkidle")
        _save(page, "subscription-tab")
    page.goto(f"{args.base}/customers/{dialog_customer}/subscriptions/")
    page.wait_for_load_state("networkidle")
    if "change-plan-dialog" in wanted:
        page.get_by_role("link", name="Change plan…").click()
        page.locator("#subscription-impact").wait_for()
        page.wait_for_timeout(300)
        _save(page, "change-plan-dialog")
        page.keyboard.press("Escape")
    if "cancel-offer" in wanted:
        _open_cancel(page, labels["too_expensive"])
        page.wait_for_timeout(300)
        _save(page, "cancel-offer")
        page.keyboard.press("Escape")
    if "retention" in wanted:
        page.goto(f"{args.base}/subscriptions/retention/")
        page.wait_for_load_state("networkidle")
        _save(page, "retention")


def email_shots(page, args, wanted) -> None:
    """The send-email dialog with its preview, opened from an active customer's header; a profile's Emails tab."""
    page.set_viewport_size({"width": 1400, "height": 900})
    rows = page.request.get(f"{args.base}/api/v1/customers?status=active&per_page=100").json()["results"]
    if "email-dialog" in wanted and rows:
        page.goto(f"{args.base}/customers/{rows[0]['id']}/")
        page.wait_for_load_state("networkidle")
        page.get_by_role("link", name="Send email").click()
        page.locator("#email-send-dialog .email-preview-html").wait_for()
        page.wait_for_timeout(300)
        page.screenshot(path=OUT / "email-dialog.png", full_page=False)
        print(f"saved {OUT / 'email-dialog.png'}")
    if "profile-emails" in wanted:
        for row in rows:
            if page.request.get(f"{args.base}/api/v1/customers/{row['id']}/emails").json()["results"]:
                page.goto(f"{args.base}/customers/{row['id']}/emails/")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=OUT / "profile-emails.png", full_page=False)
                print(f"saved {OUT / 'profile-emails.png'}")
                break


def card_link_shots(browser, page, args, wanted) -> None:
    """Send a card-update link to an active customer who can get one (in grace, so something is due, when there is
    one), then open the emailed link in a fresh browser context (no session): the form, the card saved with
    4242 4242 4242 4242 (and the failed invoice charged), and the link used up."""
    if not wanted & set(CARD_LINK_SHOTS):
        return
    page.set_viewport_size({"width": 1400, "height": 900})
    rows = page.request.get(f"{args.base}/api/v1/customers?status=active&per_page=100").json()["results"]
    rows.sort(key=lambda row: row["subscription"]["state"] != "grace")
    for row in rows:
        page.goto(f"{args.base}/customers/{row['id']}/")
        page.wait_for_load_state("networkidle")
        action = page.get_by_role("link", name="Send card-update link")
        if action.count():
            break
    else:
        print("no active customer can be sent a card-update link")
        return
    action.click()
    page.locator("#card-link-dialog #card-link-form").wait_for()
    page.wait_for_timeout(300)
    if "card-link-dialog" in wanted:
        page.screenshot(path=OUT / "card-link-dialog.png", full_page=False)
        print(f"saved {OUT / 'card-link-dialog.png'}")
    page.get_by_role("button", name="Send link").click()
    page.locator("#card-link-dialog").wait_for(state="hidden")
    page.goto(f"{args.base}/customers/{row['id']}/emails/")
    found = re.search(r"https?://[^\s<\"]+/pay/card/[^\s<\"/]+/", page.content())
    if found is None:
        print("the card-update email is not on the Emails tab")
        return
    url = args.base + urlsplit(found.group(0)).path
    context = browser.new_context(viewport={"width": 900, "height": 820})
    customer = context.new_page()
    customer.goto(url)
    for name, step in (("card-link-form", None), ("card-link-saved", "save"), ("card-link-used", "reopen")):
        if step == "save":
            customer.get_by_label("Card number").fill("4242 4242 4242 4242")
            customer.get_by_label("Expiry (MM/YY)").fill("12/34")
            customer.get_by_label("Security code (CVC)").fill("123")
            customer.get_by_role("button", name="Save card").click()
            customer.locator("#card-link-result").wait_for()
        elif step == "reopen":
            customer.goto(url)
        if name in wanted:
            customer.screenshot(path=OUT / f"{name}.png", full_page=False)
            print(f"saved {OUT / (name + '.png')}")
    context.close()


def _customer_in_state(page, base: str, state: str) -> str | None:
    """The newest customer whose subscription is in `state`, among the newest hundred (the session signs the
    API request in)."""
    rows = page.request.get(f"{base}/api/v1/customers?per_page=100").json()["results"]
    return next((row["id"] for row in rows if row["subscription"]["state"] == state), None)


if __name__ == "__main__":
    main()
