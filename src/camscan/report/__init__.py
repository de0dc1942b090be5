"""Renderings of the store for people: the self-contained HTML audit report."""

from camscan.report.html import gather, render_html

__all__ = ["gather", "render_html"]
