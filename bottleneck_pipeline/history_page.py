"""``historique.html``: the months side by side, for business readers.

Published at ``<publish_to>historique.html``, rebuilt by every publish under the publish lock
after the month's keys (:func:`refresh`), and locally at ``outputs/historique.html`` from the
run directories there. ``run_pipeline.py history TARGET`` rebuilds it on demand and prints
the months in the terminal (:func:`main`).

One self-contained page, newest month first: the month, its status, revenue, premium and
ordinary counts, the change against the month before, links to its page, reports and
evidence; above, the revenue and the premium count of the last 24 months as inline SVG
(no script), a month without figures drawn as a gap, never as a zero. Everything from a
manifest is escaped (Jinja's autoescape; the SVG's text through :func:`_esc`). The page is
written whole or not at all: a local file is renamed into place, an S3 object is one PUT.
"""

from __future__ import annotations

import argparse
import html
import io
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import fr, history, paths, periods
from .errors import PipelineError
from .history import History, Month, Run
from .locations import printable

NAME = paths.HISTORY
CHART_MONTHS = 24
MAIL_MONTHS = 12
PROBLEMS = {  # a problem's kind as a reader reads it
    "missing": "manifeste absent",
    "unreadable": "manifeste illisible",
    "wrong shape": "manifeste de forme inattendue",
    "foreign": "manifeste d'un autre projet",
}
LINKS = {  # a month's file -> its label on the page
    paths.INDEX: "page du mois",
    paths.REVENUE_REPORT: "rapport CA",
    paths.DETAIL_CSV: "CA par produit",
    paths.PREMIUM_CSV: "premium",
    paths.ORDINARY_CSV: "ordinaires",
    paths.TEST_REPORT: "contrôles",
}
WINE, GREY, GRID = "#7b1e3a", "#8a8a8a", "#e4e4e4"


# --- the series and the chart ------------------------------------------------------------------


def series(h: History, months: int = CHART_MONTHS) -> list[dict[str, Any]]:
    """The last ``months`` months up to the newest one listed (oldest first): each month's
    revenue and premium count, None where it has none (not published, failed, unusable)."""
    if not h.months:
        return []
    newest = h.months[0].period
    out = []
    for i in range(months - 1, -1, -1):
        period = history.shift(newest, -i)
        month = h.month(period)
        run = month.run if month else None
        state = "ok" if run else "missing" if month is None else "problem" if month.problem else "failed"
        out.append(
            {
                "period": period,
                "revenue": run.total_revenue if run else None,
                "premium": run.premium_count if run else None,
                "state": state,
            }
        )
    return out


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round values from ``lo`` to at least ``hi`` (1, 2, 2.5 or 5 times a power of ten)."""
    import math

    span = (hi - lo) or abs(hi) or 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


GAP_WORDS = {"missing": "non publié", "failed": "pas d'exécution réussie", "problem": "manifeste inutilisable"}


def svg_chart(points: list[dict[str, Any]], key: str, width: int, height: int, label_every: int) -> str:
    """One chart as inline SVG: ``revenue`` as bars, ``premium`` as a line with dots; a month
    with no value is a gap with a grey mark on the axis (its tooltip says why)."""
    money = key == "revenue"
    font, left, right, top, bottom = 12, (58 if money else 34), 8, 10, 34
    values = [p[key] for p in points if p[key] is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    ticks = _ticks(lo, hi if hi > lo else lo + (1 if not money else 1000))
    lo, hi = ticks[0], ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(points), 1)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    what = "Chiffre d'affaires" if money else "Vins premium"
    shown = [f"{fr.month(p['period'])} : {fr.money(p[key]) if money else fr.number(p[key])}" for p in points]
    parts = [
        f'<svg class="{_esc(key)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(what)} par mois" font-size="{font}" font-family="system-ui, sans-serif">',
        f"<title>{_esc(what)} par mois</title><desc>{_esc(' ; '.join(shown))}</desc>",
    ]
    for t in ticks:
        label = fr.compact_money(t) if money else fr.number(t)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#555">{_esc(label)}</text>'
        )
    zero = y(0.0)
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#999"/>')
    lines_at = len(parts)  # the line is drawn under its dots
    segments: list[list[str]] = [[]]
    labelled = [i for i in range(len(points)) if (len(points) - 1 - i) % label_every == 0]  # the newest always
    for i, p in enumerate(points):
        cx = left + slot * (i + 0.5)
        month = fr.month(p["period"])
        if p[key] is None:
            segments.append([])  # the line is broken at each gap
            parts.append(
                f'<g class="gap" data-period="{p["period"]}"><title>{_esc(month)} : {GAP_WORDS[p["state"]]}</title>'
                f'<line x1="{cx - slot * 0.3:.1f}" x2="{cx + slot * 0.3:.1f}" y1="{zero:.1f}" y2="{zero:.1f}" '
                f'stroke="{GREY}" stroke-width="3" stroke-dasharray="2 2"/></g>'
            )
        elif money:
            top_y, bottom_y = sorted((y(p[key]), zero))
            parts.append(
                f'<rect class="bar" data-period="{p["period"]}" x="{cx - slot * 0.35:.1f}" y="{top_y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{max(bottom_y - top_y, 0.5):.1f}" fill="{WINE}">'
                f"<title>{_esc(month)} : {_esc(fr.money(p[key]))}</title></rect>"
            )
        else:
            segments[-1].append(f"{cx:.1f},{y(p[key]):.1f}")
            parts.append(
                f'<circle class="dot" data-period="{p["period"]}" cx="{cx:.1f}" cy="{y(p[key]):.1f}" r="3.5" '
                f'fill="{WINE}"><title>{_esc(month)} : {_esc(fr.count(p[key], "vin premium", "vins premium"))}'
                "</title></circle>"
            )
        if i in labelled:
            parts.append(
                f'<text x="{cx:.1f}" y="{height - bottom + 15}" text-anchor="middle" fill="#333">'
                f"{_esc(fr.month_short(p['period'], year=False))}</text>"
            )
            if i == labelled[0] or points[labelled[labelled.index(i) - 1]]["period"][:4] != p["period"][:4]:
                parts.append(
                    f'<text x="{cx:.1f}" y="{height - bottom + 29}" text-anchor="middle" fill="#777">'
                    f"{p['period'][:4]}</text>"
                )
    parts[lines_at:lines_at] = [
        f'<polyline class="line" points="{" ".join(seg)}" fill="none" stroke="{WINE}" stroke-width="2"/>'
        for seg in segments
        if len(seg) > 1
    ]
    parts.append("</svg>")
    return "".join(parts)


def charts(points: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Both charts, each for a wide screen and for a phone (the page's CSS shows one)."""
    return {
        key: {
            "wide": svg_chart(points, key, 960, 230 if key == "revenue" else 170, 1),
            "narrow": svg_chart(points, key, 360, 220 if key == "revenue" else 160, 3),
        }
        for key in ("revenue", "premium")
    }


# --- the page ------------------------------------------------------------------------------


def _row(h: History, month: Month) -> dict[str, Any]:
    """What the table shows for a month (the template formats it)."""
    run = month.run
    shown = month.shown
    before = h.month(history.shift(month.period, -1))
    previous = before.run.total_revenue if before and before.run else None
    change = pct = None
    if run and run.total_revenue is not None and previous is not None:
        change = round(run.total_revenue - previous, 2)
        pct = round(change / previous * 100, 1) if previous else None
    later_failure = next((o for o in month.others if run and o.run_id > run.run_id and o.status == "failed"), None)
    return {
        "period": month.period,
        "month": fr.month(month.period),
        "run": run,
        "shown": shown,
        "problem": month.problem,
        "change": change,
        "change_pct": pct,
        "has_previous": before is not None and before.run is not None,
        "previous_month": fr.month(history.shift(month.period, -1)),
        "links": [
            (shown.base + n, LINKS[n] if n != paths.INDEX or shown is run else "page de l'exécution")
            for n in (shown.files if shown else ())
            if n in LINKS
        ],
        "evidence": [(shown.base + n, n[:2]) for n in shown.files if n.endswith(".html") and n != paths.INDEX]
        if shown
        else [],
        "others": [o for o in month.others if o is not shown],
        "later_failure": later_failure,
    }


def render(h: History, built_at: str | None = None, latest: str | None = None) -> str:
    """The page for the history ``h``; ``latest``: the link to the latest month's page."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=FileSystemLoader(paths.TEMPLATES_DIR / "history"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    points = series(h)
    svg = {k: {v: Markup(s) for v, s in d.items()} for k, d in charts(points).items()}
    gaps = [p["period"] for p in points if p["state"] == "missing"]
    published = [m for m in h.months if m.run]
    return env.get_template("historique.html.j2").render(
        h=h,
        rows=[_row(h, m) for m in h.months],
        charts=svg,
        points=points,
        gaps=[fr.month(p) for p in gaps],
        first=fr.month(points[0]["period"]) if points else "",
        last=fr.month(points[-1]["period"]) if points else "",
        published=len(published),
        problems=h.problems,
        problem_words=PROBLEMS,
        built=fr.when(built_at or datetime.now(UTC).isoformat(timespec="seconds")),
        latest=latest,
        fr=fr,
    )


def put_local(folder: Path, h: History) -> Path:
    """Write ``<folder>/historique.html`` for ``h``: beside it, then renamed into place."""
    out = Path(folder) / NAME
    with paths.atomic_path(out) as tmp:
        tmp.write_text(render(h), encoding="utf-8")
    return out


def write_local(folder: str | Path) -> tuple[History, Path]:
    """Rebuild ``<folder>/historique.html`` from the run directories in ``folder``."""
    h = history.collect_local(_folder(folder))
    return h, put_local(Path(folder), h)


def _folder(folder: str | Path) -> Path:
    if not Path(folder).is_dir():
        raise PipelineError(f"history {folder}: not a folder")
    return Path(folder)


def put_s3(prefix_uri: str, h: History) -> str:
    """Write ``<prefix>historique.html`` for ``h`` (the caller holds the publish lock): one PUT,
    checked against the page's SHA-256, so readers get the whole page or the previous one."""
    from . import s3

    prefix = s3.S3Uri.parse(prefix_uri, prefix=True, what="history")
    latest = paths.INDEX if s3.head(prefix.join(paths.INDEX)) is not None else None
    with tempfile.TemporaryDirectory(prefix="bottleneck-history-") as tmp:
        local = Path(tmp) / NAME
        local.write_text(render(h, latest=latest), encoding="utf-8")
        s3.upload(local, prefix.join(NAME), paths.file_fingerprint(local)["sha256"], {"kind": "history"})
    return str(prefix.join(NAME))


def write_s3(prefix_uri: str) -> tuple[History, str]:
    """Rebuild ``<prefix>historique.html`` from the months published there."""
    h = history.collect_s3(prefix_uri)
    return h, put_s3(prefix_uri, h)


def refresh(prefix_uri: str, log: Callable[[str], None] = print, lock_as: str | None = None) -> str | None:
    """Rebuild the published history after a publish; ``lock_as``: take the publish lock
    first (as this run id), when the caller does not hold it. Never raises: returns the
    warning (the previous page stays) or None."""
    from . import publish_lock, s3

    try:
        if lock_as:
            with publish_lock.hold(s3.S3Uri.parse(prefix_uri, prefix=True), lock_as, log):
                h, where = write_s3(prefix_uri)
        else:
            h, where = write_s3(prefix_uri)
    except Exception as exc:  # S3, a template, anything: the run's outcome stands
        why = printable(str(exc) if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}")
        warning = f"the history page {prefix_uri}{NAME} was not rebuilt ({why}); the previous one stays"
        log(f"warning: {warning}")
        return warning
    log(f"published the history page at {where} ({summary(h)})")
    return None


def refresh_local(run_dir: Path, log: Callable[[str], None] = print) -> None:
    """After a run whose directory is in the project's ``outputs/``: rebuild its history page.
    Never raises (a warning)."""
    if not paths.in_outputs(run_dir):
        return
    folder = paths.resolve("outputs")
    try:
        h, out = write_local(folder)
    except Exception as exc:
        log(f"warning: the history page {folder / NAME} was not rebuilt ({type(exc).__name__}: {printable(exc)})")
        return
    log(f"history: {out} ({summary(h)})")


def summary(h: History) -> str:
    ok = sum(1 for m in h.months if m.run)
    problems = len(h.all_problems())
    text = f"{ok} month(s) with figures, {len(h.months)} listed"
    return text + (f", {problems} unusable manifest(s)" if problems else "")


# --- run_pipeline.py history TARGET -------------------------------------------------------------


def table(h: History) -> list[str]:
    """The months as a terminal table (English, like the rest of the console)."""
    head = f"{'month':<8} {'status':<12} {'revenue':>14} {'premium':>7} {'ordinary':>8} {'vs month before':>22} runs"
    lines = [head, "-" * len(head)]
    for month in h.months:
        row = _row(h, month)
        shown = row["shown"]
        if month.problem and not month.run:
            lines.append(f"{month.period:<8} {month.problem.kind:<12} {printable(str(month.problem))}")
            if not shown:
                continue
        run = month.run  # a failed run's figures are not the month's
        status = (run or shown).status
        change = (
            f"{row['change']:+,.2f} ({row['change_pct']:+.1f}%)"
            if row["change"] is not None and row["change_pct"] is not None
            else f"{row['change']:+,.2f}"
            if row["change"] is not None
            else "-"
        )
        money = f"{run.total_revenue:,.2f}" if run and run.total_revenue is not None else "-"
        premium = run.premium_count if run and run.premium_count is not None else "-"
        ordinary = run.ordinary_count if run and run.ordinary_count is not None else "-"
        lines.append(
            f"{month.period:<8} {status:<12} {money:>14} {premium!s:>7} {ordinary!s:>8} {change:>22} "
            f"{len(month.others) + (1 if run else 0)}"
        )
    for problem in h.problems:
        lines.append(f"problem: {printable(str(problem))}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py history",
        description="Rebuild the history page (the months side by side) and print the months.",
    )
    parser.add_argument("target", help="a publish prefix s3://bucket/prefix/ or a local folder of runs (outputs/)")
    args = parser.parse_args(argv)
    if not args.target.startswith("s3://"):
        try:
            h = history.collect_local(_folder(paths.resolve(args.target)))
        except (PipelineError, OSError) as exc:
            return _fail(args.target, exc, 2)  # the target cannot be read
        try:
            where = str(put_local(paths.resolve(args.target), h))
        except OSError as exc:
            return _fail(args.target, exc, 1)  # the page cannot be written
    else:
        from . import publish_lock, s3

        try:
            s3.load_env_file()
            s3.check_endpoint()
            s3.quiet_botocore_logs()
            prefix = s3.S3Uri.parse(args.target, prefix=True, what="history")
            history.folders(prefix)  # the target answers, before the lock is taken
        except PipelineError as exc:
            return _fail(args.target, exc, 2)  # the target cannot be read
        try:
            with publish_lock.hold(prefix, paths.new_run_id()):
                h = history.collect_s3(str(prefix))
                where = put_s3(str(prefix), h)
        except PipelineError as exc:  # the lock was not had in time, or the page could not be written
            return _fail(args.target, exc, 1)
    for line in table(h):
        print(line)
    print(f"rebuilt {where}: {summary(h)}")
    return 0


def _fail(target: str, exc: BaseException, code: int) -> int:
    why = str(exc) if isinstance(exc, PipelineError) else f"history {target}: {type(exc).__name__}: {exc}"
    print(f"error: {printable(why)}", file=sys.stderr)
    return code


# --- the e-mail's trend ----------------------------------------------------------------------


def mail_trend(m: dict[str, Any], run_dir: Path | None) -> dict[str, Any] | None:
    """The last months' revenue for the month's e-mail: the figures (text), a small PNG chart
    and where the history page is. None when the run has no period; never raises."""
    import json

    period = m.get("period") or ""
    if not periods.PERIOD.fullmatch(period):
        return None
    published = m.get("published") or {}
    if published.get("to"):
        source, page = published["to"], f"{published['to']}{NAME}"
    elif run_dir is not None:
        source = str(Path(run_dir).resolve().parent)
        page = str(Path(source) / NAME) if (Path(source) / NAME).is_file() else None
    else:
        return None
    current = history.read_manifest(json.dumps(m, default=str).encode(), "this run", base="")
    try:
        months = history.trend(source, period, MAIL_MONTHS, current if isinstance(current, Run) else None)
    except Exception:  # the figures of other months are a bonus: never a reason for no mail
        months = [(period, current.total_revenue if isinstance(current, Run) else None)]
    png = None
    try:
        png = trend_png(months)
    except Exception:
        png = None
    return {
        "months": [(fr.month(p), fr.money(v) if v is not None else "non publié") for p, v in months],
        "first": fr.month(months[0][0]),
        "last": fr.month(months[-1][0]),
        "png": png,
        "page": page,
    }


def trend_png(months: list[tuple[str, float | None]]) -> bytes:
    """The revenue of ``months`` as a small PNG (the charts' style): a month without figures
    is a gap marked « n.p. », never a zero."""
    from . import charts

    fig = charts.revenue_trend(
        [fr.month_short(p, year=p.endswith("-01") or i == 0) for i, (p, _) in enumerate(months)],
        [v for _, v in months],
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
