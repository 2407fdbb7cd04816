"""One self-contained HTML page per trial: every image embedded, warnings on top."""
from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mv3d.io.atomic import atomic_write
from mv3d.plotting import pyplot

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#666;margin-bottom:1em}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em;margin:.3em 0}
.ok{background:#eef8ee;border-left:4px solid #3a3;padding:.5em 1em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
img{max-width:100%;margin:.4em 0;border:1px solid #eee}
.note{color:#555;font-size:.92em}
"""


def figure_to_data_uri(fig) -> str:
    """A matplotlib figure as a base64 PNG data URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_to_data_uri(image: np.ndarray, ext: str = ".jpg") -> str:
    """A BGR uint8 image (H, W, 3) as a base64 data URI (JPEG by default, PNG with ext='.png')."""
    import cv2

    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise ValueError("could not encode image")
    mime = "image/png" if ext == ".png" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(buf.tobytes()).decode()


def file_to_data_uri(path: Path) -> str:
    """An image or animation file (png, jpg, gif) as a data URI."""
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}[path.suffix.lower()]
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def read_csv_rows(path: Path) -> list[dict]:
    """The rows of a CSV file with a header, as dicts."""
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def table_html(header: list[str], rows: list[list], float_format: str = "{:.2f}") -> str:
    """An HTML table; floats formatted, NaN shown as an en dash."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else float_format.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


@dataclass
class Report:
    """Sections of HTML built up by the pipeline, written as one page."""

    title: str
    subtitle: str = ""
    warnings: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def add(self, heading: str, body_html: str) -> None:
        self.sections.append((heading, body_html))

    def add_figure(self, heading: str, fig, caption: str = "") -> None:
        cap = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
        self.add(heading, f'<img alt="{html.escape(heading)}" src="{figure_to_data_uri(fig)}">{cap}')

    def html(self) -> str:
        warn = "".join(f'<div class="warn">⚠ {html.escape(w)}</div>' for w in self.warnings) or \
            '<div class="ok">No warnings.</div>'
        body = "".join(f"<h2>{html.escape(h)}</h2>\n{b}\n" for h, b in self.sections)
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                f"<div class='meta'>{html.escape(self.subtitle)}</div>{warn}{body}</body></html>")

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            fh.write(self.html())
        return path
