"""What the demo business sells and the words its records use: storefronts, plans, tags, reasons, texts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StorefrontSpec:
    code: str
    name: str
    kind: str
    weight: int  # share of customers, relative
    refund_window_days: int | None = None


STOREFRONTS = (
    StorefrontSpec("web", "Website", "web", 52),
    StorefrontSpec("app-store", "App Store", "app_store", 20),
    StorefrontSpec("google-play", "Google Play", "google_play", 17),
    StorefrontSpec("partner-telco", "Telco partner bundle", "partner", 7, refund_window_days=14),
    StorefrontSpec("partner-retail", "Retail gift cards", "partner", 4, refund_window_days=7),
)


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    rank: int
    weight: int  # share of subscriptions, relative
    monthly_prices: dict[str, int]  # currency -> minor units per month
    trial_days: int  # monthly plans only; yearly plans start paid
    features: tuple[str, ...]


TIERS = (
    Tier("basic", "Basic", 1, 40, {"USD": 799, "EUR": 799, "GBP": 699}, 14,
         ("1 member", "10 GB storage", "Email support")),
    Tier("standard", "Standard", 2, 38, {"USD": 1299, "EUR": 1299, "GBP": 1099}, 14,
         ("Up to 3 members", "100 GB storage", "Offline access", "Priority email support")),
    Tier("premium", "Premium", 3, 22, {"USD": 1999, "EUR": 1999, "GBP": 1699}, 7,
         ("Up to 6 members", "1 TB storage", "Offline access", "24/7 chat support", "Early access to new features")),
)
YEARLY_MONTHS_CHARGED = 10  # a yearly plan costs ten monthly prices (two months free)
YEARLY_REFUND_WINDOW_DAYS = 14


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    tier: Tier
    currency: str
    interval: str  # "month" or "year"

    @property
    def price(self) -> int:
        monthly = self.tier.monthly_prices[self.currency]
        return monthly if self.interval == "month" else monthly * YEARLY_MONTHS_CHARGED

    @property
    def trial_days(self) -> int:
        return self.tier.trial_days if self.interval == "month" else 0

    @property
    def description(self) -> str:
        return f"{self.tier.name} plan, billed {'monthly' if self.interval == 'month' else 'yearly'} in {self.currency}"


PLANS = tuple(
    PlanSpec(f"{tier.code}-{'monthly' if interval == 'month' else 'yearly'}-{currency.lower()}",
             f"{tier.name} {'monthly' if interval == 'month' else 'yearly'} ({currency})", tier, currency, interval)
    for currency in ("USD", "EUR", "GBP") for tier in TIERS for interval in ("month", "year")
)

TAGS = ("vip", "beta tester", "press", "student", "enterprise lead", "referral", "needs follow-up",
        "chargeback risk", "accessibility", "do not contact", "ambassador", "complaint")

CANCELLATION_REASONS = ("Too expensive", "Not using it enough", "Switched to a competitor", "Missing features",
                        "Technical problems", "Taking a break", "Moving to a company account")
REFUND_REASONS = ("Renewed by accident", "Charged after cancelling", "Service outage", "Duplicate charge",
                  "Goodwill gesture")
CREDIT_REASONS = ("Goodwill credit after the service outage", "Loyalty reward", "Referral bonus",
                  "Compensation for a delayed refund")

# (failure code, message shown to agents); soft declines are retried by dunning, hard ones need a new method.
SOFT_DECLINES = (("insufficient_funds", "The card has insufficient funds."),
                 ("processing_error", "The issuer could not process the charge."),
                 ("try_again_later", "The issuer asked to try again later."),
                 ("do_not_honor", "The issuer declined the charge without a reason."))
HARD_DECLINES = (("expired_card", "The card has expired."),
                 ("stolen_card", "The card was reported stolen."),
                 ("incorrect_number", "The card number is incorrect."),
                 ("account_closed", "The bank account was closed."))

NOTES = (
    "Called about a double charge; explained the pending authorisation will drop off in a few days.",
    "Prefers to be contacted by email, not phone.",
    "Asked about family sharing; sent the help article on adding members.",
    "Promised a follow-up once the sync bug is fixed.",
    "Long-time customer, very happy with the product. Mentioned us in a blog post.",
    "Was unhappy with the price increase; offered the yearly plan instead.",
    "Card issuer blocks foreign transactions; suggested PayPal.",
    "Reported slow uploads from a corporate network; escalated to engineering.",
    "Requested an invoice with the company VAT number added.",
    "Wants to pause during the summer; explained how pausing works.",
    "Student discount verified by email.",
    "Asked us to delete an old device from the account.",
)

# (subject, first message from the customer, agent reply)
TICKET_TOPICS = (
    ("Charged twice this month", "I see two charges on my card for this month. Can you check?",
     "I checked your account: the second line is an authorisation that will drop off within a few days."),
    ("Cannot log in on my phone", "The app keeps saying my password is wrong, but it works on the website.",
     "Please update the app to the latest version and sign out and back in; that fixes the login issue."),
    ("How do I cancel?", "I would like to cancel my subscription at the end of this period.",
     "Done: your subscription stays active until the end of the current period and will not renew."),
    ("Refund request", "I forgot to cancel before the renewal. Can I get a refund?",
     "I've refunded the last payment; you'll see it on your statement in 5-10 business days."),
    ("Update billing address", "We moved. Please update the address on my invoices.",
     "Your billing address is updated; new invoices will show it."),
    ("Sync is not working", "My files are not syncing between my laptop and phone since yesterday.",
     "We had a sync incident yesterday; it's resolved now. Please restart the app to catch up."),
    ("Upgrade question", "What is the difference between Standard and Premium?",
     "Premium adds more members, more storage and 24/7 chat support. You can upgrade any time."),
    ("Invoice needed for expenses", "Can you send me the invoice for my last payment?",
     "You can download every invoice from your account page; I've also emailed the latest one."),
    ("Payment keeps failing", "My payment failed but my card is fine.",
     "The bank declined the charge; please update the card or try another payment method."),
    ("Delete my account", "Please delete my account and my data.",
     "I've started the deletion request; a manager will confirm it shortly."),
    ("App crashes on start", "Since the last update the app crashes right after opening.",
     "Thanks for the report. A fix ships this week; reinstalling the app works around it meanwhile."),
    ("Change of email address", "I'd like to use a new email address for my account.",
     "Your account now uses the new address; you'll receive a confirmation email."),
)
TICKET_INTERNAL_NOTES = (
    "Checked the gateway log: the charge was declined by the bank, not by us.",
    "Second ticket this month from this customer; keep the tone extra careful.",
    "Asked billing whether the duplicate authorisation has dropped off yet.",
    "Customer is on an old app version; reproduced on 4.2, fixed in 4.3.",
    "Refund is inside the window and under my limit; waiting for the customer to confirm.",
    "Escalating: the customer mentions a chargeback if this is not solved today.",
)
CUSTOMER_FOLLOW_UPS = ("Thanks, that worked!", "Still not working, unfortunately.", "Any news on this?",
                       "Great, thank you for the quick help.")

# (purpose, channel, share of customers with a record, share of those who granted it, app customers only)
CONSENTS = (
    ("marketing", "email", 1.0, 0.55, False),
    ("product_updates", "email", 0.85, 0.9, False),
    ("marketing", "sms", 0.35, 0.4, False),
    ("research", "email", 0.25, 0.5, False),
    ("product_updates", "push", 1.0, 0.7, True),
)
CONSENT_CHANGE_SHARE = 0.12  # of marketing-email records, later reversed in the preference centre
