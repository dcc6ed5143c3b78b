"""The demo's pages: which of its URLs answer, and the banner that lists them."""

from __future__ import annotations

import os

import httpx
from rich.console import Console

from inferwatch.local.plan import EXAMPLE, DemoPlan
from inferwatch.simulate.timeline import Timeline


def answering(url: str) -> bool:
    """Whether a GET of ``url`` answers 2xx (Debian's Prometheus has no web UI: ``/alerts``
    is a 404 there, so a page is printed only when it is really served)."""
    try:
        return httpx.get(url, timeout=3.0, follow_redirects=True).is_success
    except httpx.HTTPError:
        return False


def working_urls(url: str, urls: tuple[str, str] | None) -> list[tuple[str, str]]:
    """``(what, url)`` of every page of the demo that answers: for Prometheus and
    Alertmanager their web UI when it is served, else their alerts API."""
    candidates: list[tuple[str, tuple[str, ...]]] = [
        ("dashboard", (f"{url}/dashboard",)),
        ("API docs", (f"{url}/docs",)),
        ("metrics", (f"{url}/metrics",)),
        ("alerts", (f"{url}/api/alerts",)),
    ]
    if urls is not None:
        prom, am = urls
        candidates.append(("Prometheus", (f"{prom}/alerts", f"{prom}/api/v1/alerts")))
        candidates.append(("Alertmanager", (f"{am}/#/alerts", f"{am}/api/v2/alerts")))
    out = []
    for what, options in candidates:
        found = next((u for u in options if answering(u.split("#")[0])), None)
        if found is not None:
            out.append((what, found))
    return out


def print_pages(
    console: Console,
    url: str,
    urls: tuple[str, str] | None,
    plan: DemoPlan,
    story: Timeline,
    lake_url: str,
) -> None:
    console.print(f"[bold]inferwatch demo[/bold] (pid {os.getpid()}), model {EXAMPLE}")
    for what, link in [*working_urls(url, urls), ("data lake", lake_url)]:
        console.print(f"  {what:<13} {link}", soft_wrap=True, highlight=False)
    console.print(f"  window        {plan.window_seconds:g} s", soft_wrap=True)
    console.print(f"  timeline      {story.spec()} (repeats)", soft_wrap=True)
    console.print("Ctrl-C stops everything.")


__all__ = ["answering", "print_pages", "working_urls"]
