"""Invoice pages: the document on screen and the same document as a PDF (rendered by WeasyPrint)."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from payments.access import access_invoice
from payments.selectors import invoice_document, invoices_for_document
from portal.access import require_capability
from portal.roles import Cap


def _fetch_nothing(url: str, *args, **kwargs):
    """The PDF template carries its own styles: WeasyPrint never needs (and is never allowed) to fetch a URL."""
    raise ValueError(f"invoice PDFs load no external resources ({url[:40]})")


def _document(request, public_id: str):
    return invoice_document(access_invoice(request, public_id, queryset=invoices_for_document()))


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def invoice_detail(request, public_id: str):
    document = _document(request, public_id)
    return render(request, "payments/invoice.html", {"doc": document, "invoice": document.invoice})


@require_GET
@require_capability(Cap.VIEW_CUSTOMERS)
def invoice_pdf(request, public_id: str):
    document = _document(request, public_id)
    # `printed`: dates are the invoice's own (UTC) dates as text, not <time> elements for the agent's zone.
    html = render_to_string("payments/invoice_pdf.html",
                            {"doc": document, "invoice": document.invoice, "printed": True})
    from weasyprint import HTML  # imported on first use: it parses its own stylesheets at import (~0.3 s, logged)

    pdf = HTML(string=html, url_fetcher=_fetch_nothing).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = re.sub(r"[^\w.-]", "_", document.invoice.number)
    response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return response
