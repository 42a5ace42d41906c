"""Signing a persona in through the real login form (for tests that drive more than one browser context)."""

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


def sign_in(page, base_url, user, password=PASSWORD):
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/customers/")
