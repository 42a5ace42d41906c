"""`manage.py audit_verify [--expect ID:HASH ...]`: check the audit log's hash chain (portal/audit_chain.py).

Exit status 0 when every row is intact, 1 with one line per problem otherwise. Pass the heads the daily
`portal.audit_chain_head` task logged (`--expect 1234:ab12…`) to also catch rows removed from the end.
"""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal.audit_chain import verify_chain

_EXPECT = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _expected_head(value: str) -> tuple[int, str]:
    match = _EXPECT.match(value.strip())
    if not match:
        raise CommandError(f"--expect takes ID:HASH as logged by the daily chain-head task (got {value!r}).")
    return int(match[1]), match[2]


class Command(BaseCommand):
    help = "Verify the audit log's hash chain: reports any row changed, removed or inserted out of order."

    def add_arguments(self, parser):
        parser.add_argument("--expect", action="append", default=[], metavar="ID:HASH",
                            help="A chain head logged earlier; it must still be in the log, unchanged.")

    def handle(self, *args, expect, **options):
        expected = dict(_expected_head(value) for value in expect)
        report = verify_chain(connection, expect=expected)
        for problem in report.problems:
            self.stdout.write(f"row {problem.row_id}: {problem.message}")
        if not report.intact:
            self.stderr.write(self.style.ERROR(
                f"Audit chain broken: {len(report.problems)} problem(s) in {report.rows:,} rows."))
            raise SystemExit(1)
        head = f"head {report.head_id}:{report.head_hash}" if report.head_id else "no rows yet"
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.rows:,} rows, {head}."))
