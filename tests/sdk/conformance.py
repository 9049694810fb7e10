#!/usr/bin/env python3
"""The official Meraki Python SDK (4.x) against callbudget's simulator, with the SDK's defaults.

Usage: conformance.py PAGING_BASE_URL LIMITED_BASE_URL ORG_ID T0 T1

1. Against PAGING_BASE_URL: pages through the organization's request log for the closed window
   [T0, T1) with total_pages="all" (the SDK follows each Link itself), then asks the overview and
   responseCodes/byInterval for the same window; the three totals must agree.
2. Against LIMITED_BASE_URL (a simulator whose budget admits one call every two seconds): calls
   getOrganizationAdmins twice at once, so the second is refused with 429 and Retry-After, which the
   SDK's own handling must wait out and retry.

The key comes from MERAKI_DASHBOARD_API_KEY, as the SDK reads it. Prints one JSON object on stdout
(the records paged, the totals, the SDK's rate-limit warnings, the time the two calls took); exits
1 with a message on stderr when the SDK's view disagrees with itself. Run by
tests/sdk_conformance.rs.
"""

import json
import logging
import sys
import time

import meraki


class Captured(logging.Handler):
    """Keeps every message the SDK logs."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def dashboard(base_url):
    # The SDK's defaults except where it logs: no log file in the working directory and nothing on
    # the console; its records go to the captured logger instead.
    return meraki.DashboardAPI(
        base_url=base_url,
        output_log=False,
        print_console=False,
        inherit_logging_config=True,
    )


def fail(message):
    print(f"conformance: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    paging_base, limited_base, org, t0, t1 = sys.argv[1:6]
    captured = Captured()
    sdk_logger = logging.getLogger("meraki")
    sdk_logger.setLevel(logging.INFO)
    sdk_logger.addHandler(captured)

    api = dashboard(paging_base)
    records = api.organizations.getOrganizationApiRequests(
        org, total_pages="all", t0=t0, t1=t1, perPage=100
    )
    pages = sum(
        1 for m in captured.messages if m.startswith("organizations, getOrganizationApiRequests; page ")
    )
    overview = api.organizations.getOrganizationApiRequestsOverview(org, t0=t0, t1=t1)
    overview_total = sum(overview["responseCodeCounts"].values())
    intervals = api.organizations.getOrganizationApiRequestsOverviewResponseCodesByInterval(
        org, t0=t0, t1=t1
    )
    by_interval_total = sum(c["count"] for i in intervals for c in i["counts"])
    if not len(records) == overview_total == by_interval_total:
        fail(
            f"{len(records)} records paged, {overview_total} in the overview, "
            f"{by_interval_total} by interval"
        )

    limited = dashboard(limited_base)
    before = len(captured.messages)
    started = time.monotonic()
    first = limited.organizations.getOrganizationAdmins(org)
    second = limited.organizations.getOrganizationAdmins(org)
    seconds = time.monotonic() - started
    warnings = [m for m in captured.messages[before:] if " 429 " in m and "retrying in" in m]

    json.dump(
        {
            "sdk_version": meraki.__version__,
            "records": records,
            "pages": pages,
            "overview_total": overview_total,
            "by_interval_total": by_interval_total,
            "admins": [len(first), len(second)],
            "rate_limit_warnings": warnings,
            "seconds_for_two_calls": seconds,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
