"""``index.html``: one self-contained page per run for business readers and auditors.

What a reader needs first comes first: the month and the status, what broke and what to do
when the run failed, a changed rule or a stale page, the checks to read; then the key
figures with the change since the month compared, the revenue chart, the reports, the
comparison, the checks, the steps, the inputs, the parameters and the code. Everything is
French, in words a manager knows: a check is named by its title (its id is a tooltip), a
parameter by its French name with its value as a reader says it, the run's English error
line is kept, folded, for the analyst. Inline CSS, no script, no network request; it reads
on a phone (390 px) without scrolling sideways: its tables become cards there.

The helpers that say a failure, a changed rule and a stale page in French are shared with
the e-mail (:mod:`notify`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import fr, paths

INDEX = paths.INDEX
REPORTS = [
    (paths.REVENUE_REPORT, "le chiffre d'affaires du mois, au total et par produit"),
    (paths.DETAIL_CSV, "le chiffre d'affaires de chaque produit, sans limite de lignes"),
    (paths.PREMIUM_CSV, "les vins premium"),
    (paths.ORDINARY_CSV, "les vins ordinaires"),
    (paths.TEST_REPORT, "les contrôles de qualité, le journal du nettoyage et les lignes derrière chaque constat"),
]
FIGURES = [  # machine name, label, format
    ("total_revenue", "chiffre d'affaires", fr.money),
    ("sold_count", "produits vendus (au moins une vente)", fr.number),
    ("merged_rows", "produits en ligne (ERP et boutique rapprochés)", fr.number),
    ("premium_count", "vins premium", fr.number),
    ("ordinary_count", "vins ordinaires", fr.number),
    ("erp_rows", "lignes ERP lues", fr.number),
    ("web_rows", "lignes web lues", fr.number),
    ("liaison_rows", "lignes de liaison lues", fr.number),
]
CHANGES = [  # comparison list, its count, title, columns
    ("premium_entered", "premium_entered_count", "Entrés dans les premium", ["product_id", "post_title", "price"]),
    (
        "premium_left",
        "premium_left_count",
        "Sortis des premium",
        ["product_id", "post_title", "previous_price", "price"],
    ),
    ("appeared", "appeared_count", "Produits apparus", ["product_id", "post_title", "price"]),
    ("disappeared", "disappeared_count", "Produits disparus", ["product_id", "post_title", "previous_price"]),
    (
        "price_changes",
        "price_changed_count",
        "Plus fortes variations de prix",
        ["product_id", "post_title", "previous_price", "price", "change_pct"],
    ),
    (
        "sales_changes",
        "sales_changed_count",
        "Plus fortes variations des ventes",
        ["product_id", "post_title", "previous_total_sales", "total_sales", "sales_change", "revenue_change"],
    ),
]
MONEY_COLUMNS = {"price", "previous_price", "revenue"}
SIGNED = {"sales_change": fr.signed_number, "revenue_change": fr.signed_money}


def size(n: float) -> str:
    """A file's size as a reader reads it: ``12,3 Ko``."""
    for unit in ("o", "Ko", "Mo", "Go"):
        if n < 1024 or unit == "Go":
            return f"{n:.0f}{fr.NBSP}{unit}" if unit == "o" else f"{fr.number(n, 1)}{fr.NBSP}{unit}"
        n /= 1024
    return str(n)


def cell(column: str, value: Any) -> str:
    """A value of a comparison table, formatted for readers."""
    if column in MONEY_COLUMNS:
        return fr.money(value)
    if column == "change_pct":
        return fr.percent(value, signed=True)
    if column in SIGNED:
        return SIGNED[column](value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fr.number(value)
    return "" if value is None else str(value)


# --- what a reader is told first: shared with the e-mail ------------------------------------------


def failed_step(m: dict[str, Any]) -> str | None:
    return next((s["notebook"].removesuffix(".ipynb") for s in m.get("steps", []) if s["status"] == "failed"), None)


def check_title(c: dict[str, Any]) -> str:
    return c.get("title") or c.get("name", "")


def failure(m: dict[str, Any]) -> dict[str, Any] | None:
    """A failed run in French: where it stopped, what broke (the blocking findings, with the
    file each comes from), what to do, and the causes they share. None when it did not fail."""
    from .checks import shared_causes

    if m.get("status") != "failed":
        return None
    error = str(m.get("error") or "")
    step = failed_step(m)
    where = f"à l'étape {fr.STEPS.get(step, step)}" if step else "avant ses étapes" if not m.get("steps") else ""
    files = {i.get("name"): i.get("file") for i in m.get("inputs", []) if isinstance(i, dict)}
    failing = [c for c in m.get("checks", []) if c.get("status") == "fail"]
    if failing and "CheckFailed" in error:
        n = len(failing)
        what = f"{n} contrôle{'s' if n > 1 else ''} bloquant{'s' if n > 1 else ''} en échec"
        sources = sorted({files.get(c.get("source")) or fr.source(c.get("source")) for c in failing if c.get("source")})
        if any(c.get("stage") == "export" for c in failing):
            todo = (
                "Un rapport écrit ne tombe pas juste : ce n'est pas un problème des exports du mois. "
                "Transmettez cette page à l'analyste ; aucun rapport n'a été publié."
            )
        else:
            todo = (
                f"Corrigez {'les fichiers' if len(sources) > 1 else 'le fichier'} en cause "
                f"({', '.join(sources) or 'les exports du mois'}), puis relancez le mois. Les lignes en cause sont "
                f"dans {paths.TEST_REPORT}, une feuille par contrôle, nommée comme lui."
            )
        items = [
            {
                "title": check_title(c),
                "name": c.get("name", ""),
                "finding": c.get("finding") or "",
                "lecture": c.get("lecture") or "",
                "observed": c.get("observed"),
                "file": files.get(c.get("source")) or "",
            }
            for c in failing
        ]
        return {"where": where, "what": what, "todo": todo, "findings": items, "causes": shared_causes(failing)}
    if error.startswith("publish failed") or "publishing the evidence failed" in error:
        what = "la publication a échoué"
        todo = (
            "Les rapports sont calculés mais n'ont pas été publiés comme rapports du mois : relancez le mois. "
            "Si l'échec revient, transmettez le message technique à l'analyste."
        )
    elif "InputError" in error:
        what = "un des exports du mois est absent, illisible ou incomplet"
        todo = "Le message technique nomme le fichier et la colonne en cause : corrigez-le, puis relancez le mois."
    elif "ParamError" in error:
        what = "un paramètre du traitement est invalide"
        todo = "Le message technique nomme le paramètre en cause : transmettez-le à l'analyste."
    elif error.startswith("the run broke") or "recording its result failed" in error:
        what = "le traitement s'est interrompu (disque plein, fichier impossible à écrire)"
        todo = "Libérez de la place ou vérifiez le dossier du traitement, puis relancez le mois."
    else:
        what = "le traitement s'est arrêté sur une erreur"
        todo = "Le message technique dit laquelle : transmettez-le à l'analyste, ou relancez le mois."
    return {"where": where, "what": what, "todo": todo, "findings": [], "causes": []}


def rule_changes(m: dict[str, Any]) -> list[str]:
    """What makes this run's figures differ from what production would give: rules changed by a
    re-run (``--from … --set``), and rules that differ from production's; in French."""
    from . import params as params_mod

    said = []
    for r in m.get("reruns", []):
        changed = {k: v for k, v in (r.get("changed") or {}).items() if k not in ("period",)}
        if not changed:
            continue
        how = (
            f"l'étape {fr.STEPS.get(r.get('step'), r.get('step'))} relancée seule"
            if r.get("alone")
            else f"relancé à partir de l'étape {fr.STEPS.get(r.get('from'), r.get('from'))}"
        )
        values = ", ".join(
            f"{fr.param(k).lower()} {fr.param_value(k, v[0])} → {fr.param_value(k, v[1])}"
            for k, v in sorted(changed.items())
        )
        said.append(f"Le {fr.when(r.get('at'))}, {how} avec : {values}.")
    differs = params_mod.production_differences(m.get("params", {}))
    if differs:
        values = ", ".join(
            f"{fr.param(k).lower()} {fr.param_value(k, run)} (production : {fr.param_value(k, prod)})"
            for k, (prod, run) in differs.items()
        )
        said.append(f"Règles différentes de celles de la production : {values}.")
    return said


def stale(m: dict[str, Any]) -> dict[str, str] | None:
    """A page out of date (a step run alone), in French, with what makes the run whole again."""
    s = m.get("stale")
    if not s:
        return None
    steps = [fr.STEPS.get(x, x) for x in s.get("steps", [])]
    alone = s.get("alone")
    if s.get("rerun") == [] and alone:
        why = (
            f"les étapes ({', '.join(steps)}) ont été exécutées une à une, hors du traitement complet : leurs pages "
            "et celle-ci n'ont pas été écrites"
        )
    elif alone:
        why = (
            f"l'étape {fr.STEPS.get(alone, alone)} a été relancée seule, hors du traitement complet : "
            f"à refaire : {', '.join(steps)}"
        )
    else:
        why = f"une étape a été relancée seule, hors du traitement complet : à refaire : {', '.join(steps)}"
    return {"why": f"depuis le {fr.when(s.get('since'))}, {why}", "refresh": str(s.get("refresh") or "")}


def params_shown(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's parameters as a reader reads them: French name, value; the name for a tooltip."""
    path_like = {"input_dir", "publish_to", "notify_to", "erp_file", "web_file", "liaison_file"}
    rows = []
    for name, value in sorted(m.get("params", {}).items(), key=lambda kv: fr.param(kv[0])):
        shown = fr.param_value(name, value)
        previous = name == "previous_run" and value not in ("", "auto")
        rows.append({"name": name, "label": fr.param(name), "value": shown, "code": name in path_like or previous})
    return rows


def top_chart(m: dict[str, Any]) -> dict[str, Any] | None:
    """The revenue chart's bars: each product's share of the largest one, as CSS widths."""
    top = m.get("top_products") or []
    if not top:
        return None
    largest = max((p.get("revenue") or 0) for p in top) or 1
    bars = [{**p, "width": max(0.5, round(100 * (p.get("revenue") or 0) / largest, 1))} for p in top]
    share = sum(p.get("share_pct") or 0 for p in top)
    return {"bars": bars, "share": share, "n": len(top)}


def render(m: dict[str, Any], run_dir: Path) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(paths.TEMPLATES_DIR / "index"), autoescape=select_autoescape(["html", "j2"])
    )
    reports = [
        {"path": p, "about": about, "size": size((run_dir / p).stat().st_size)}
        for p, about in REPORTS
        if (run_dir / p).is_file()
    ]
    checks = m.get("checks", [])
    order = ("fail", "warning", "not_applicable", "pass")  # what a reader must read first
    shown = sorted(checks, key=lambda c: order.index(c["status"]) if c.get("status") in order else len(order))
    return env.get_template("index.html.j2").render(
        m=m,
        checks=shown,
        month=fr.month(m.get("period") or ""),
        f=m.get("figures", {}),
        reports=reports,
        fr=fr,
        cell=cell,
        figure_labels=FIGURES,
        change_lists=CHANGES,
        blocking=[c for c in checks if c["status"] == "fail"],
        warnings=[c for c in checks if c["status"] == "warning"],
        steps_fr=fr.STEPS,
        failure=failure(m),
        local_history=paths.HISTORY if paths.in_outputs(run_dir) else None,
        changes=rule_changes(m),
        stale=stale(m),
        params=params_shown(m),
        chart=top_chart(m),
        title_of=check_title,
    )


def write(run_dir: str | Path, m: dict[str, Any], out: str | Path | None = None) -> Path:
    """Render the page of the run described by ``m`` into ``out`` (default: the run's own)."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / INDEX
    html = render(m, run_dir)
    with paths.atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
