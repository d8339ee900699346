"""What a business reader sees, in French: number, money, percent and date formats, and the
labels of the columns, statuses and steps. One module, used by the run's page, the
notebooks, the charts, the workbook and the e-mails.

* ``money(70568.6)`` -> ``70 568,60 €``: a narrow no-break space between thousands, a comma
  before the decimals, a no-break space before ``€``, so an amount never wraps;
* ``percent(12.5)`` -> ``12,5 %``; ``number(1467)`` -> ``1 467``;
* ``when("2026-11-15T08:00:00+00:00")`` -> ``15 novembre 2026 à 09:00 (heure de Paris)``;
* a missing or non-finite value -> ``–``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from .periods import MONTHS_FR, PARIS

THIN = "\u202f"  # narrow no-break space: thousands, and before %
NBSP = "\u00a0"  # no-break space: before €
MISSING = "–"

# machine name -> what a reader reads (the manifest keeps the machine names)
LABELS = {
    "product_id": "Produit",
    "sku": "SKU web",
    "post_title": "Vin",
    "price": "Prix",
    "previous_price": "Prix précédent",
    "total_sales": "Ventes (unités)",
    "revenue": "CA",
    "z_score": "Score z du prix",
    "is_premium": "Premium",
    "stock_quantity": "Stock",
    "stock_status": "Statut du stock",
    "change_pct": "Variation",
    "period": "Mois",
    "total_revenue": "CA total",
    "run_id": "Référence de l'exécution",
    "note": "Note",
    "name": "Contrôle",
    "severity": "Gravité",
    "status": "Statut",
    "observed": "Lignes en écart",
    "expected": "Attendu",
    "detail": "Détail",
    "description": "Description",
    "lecture": "Ce qui est vérifié",
    "source": "Source",
    "action": "Action",
    "row_count": "Lignes",
    "file": "Fichier",
    "uri": "Origine",
    "rows": "Lignes",
    "columns": "Colonnes",
    "bytes": "Octets",
    "sha256": "SHA-256",
    "merged_rows": "Produits en ligne",
    "sold_count": "Produits vendus",
    "premium_count": "Vins premium",
    "ordinary_count": "Vins ordinaires",
    "erp_rows": "Lignes ERP lues",
    "web_rows": "Lignes web lues",
    "liaison_rows": "Lignes de liaison lues",
    "method": "Méthode",
    "threshold": "Seuil",
    "mean_price": "Prix moyen",
    "std_price": "Écart type des prix",
    "price_cutoff": "Seuil premium (prix)",
    "onsale_web": "En vente en ligne",
    "post_type": "Type de ligne web",
    "id_web": "Identifiant web",
    "previous_total_revenue": "CA du mois précédent",
    "revenue_change": "Évolution du CA",
    "revenue_change_pct": "Évolution du CA (%)",
    "premium_entered_count": "Entrés dans les premium",
    "premium_left_count": "Sortis des premium",
    "appeared_count": "Produits apparus",
    "disappeared_count": "Produits disparus",
    "price_changed_count": "Prix modifiés",
    "price_drift_count": "Prix au-delà du seuil",
    "sales_changed_count": "Produits dont les ventes ont changé",
    "previous_run": "Mois précédent indiqué",
    "previous_period": "Mois comparé",
    "expected_period": "Mois précédent",
    "drift_threshold": "Seuil de variation",
    "stage": "Étape",
    "where": "Emplacement",
    "problem": "Problème",
    "year_before_total_revenue": "CA du même mois l'an dernier",
    "year_before_premium_count": "Vins premium le même mois l'an dernier",
    "premium_count_change": "Évolution des vins premium",
    "title": "Contrôle",
    "finding": "Constat",
    "check_id": "Identifiant",
    "sheet": "Feuille des lignes",
    "occurrences": "Occurrences",
    "erp_matches": "Produits ERP rapprochés",
    "erp_products": "Produits ERP concernés",
    "original_value": "Valeur d'origine",
    "cleaned_value": "Valeur nettoyée",
    "column_name": "Colonne",
    "row_key": "Clé de la ligne",
    "export_rows": "Lignes dans l'export",
    "rows_read": "Lignes lues",
    "rows_dropped": "Lignes écartées",
    "rows_kept": "Lignes gardées",
    "sheet_total": "Total de la feuille",
    "rows_total": "Somme des lignes",
    "manifest_total": "CA du mois",
    "price_times_sales": "Prix × ventes",
    "previous_total_sales": "Ventes du mois comparé",
    "sales_change": "Évolution des ventes",
    "previous_revenue": "CA du mois comparé",
    "share_pct": "Part du CA",
}
STATUS = {
    "pass": "conforme",
    "warning": "à lire",
    "fail": "en échec",
    "not_applicable": "sans objet",
    "succeeded": "réussi",
    "failed": "échoué",
    "running": "en cours",
    "publishing": "publication en cours",
    "modified": "modifié",
}
SEVERITY = {"blocking": "bloquant", "warning": "avertissement"}
STEPS = {
    "01_ingestion": "01 · Lecture des exports",
    "02_cleaning_tests": "02 · Nettoyage et contrôles",
    "03_analysis": "03 · Analyse",
    "04_export": "04 · Rapports",
}


SOURCES = {"erp": "ERP", "web": "boutique en ligne", "liaison": "fichier de liaison"}
STOCK_STATUS = {  # WooCommerce's stock statuses, as the ERP exports them
    "instock": "en stock",
    "outofstock": "en rupture",
    "onbackorder": "sur commande",
}
METHODS = {"zscore": "score z", "iqr": "écart interquartile (IQR)"}
DIALECTS = {
    "standard": "standard (virgules, point décimal)",
    "excel-fr": "Excel français (points-virgules, virgule décimale)",
}
NOTIFY = {"never": "jamais", "failure": "en cas d'échec", "always": "toujours"}
# a parameter's name -> what a reader reads (the manifest and the tooltips keep the names)
PARAMS = {
    "period": "Mois",
    "input_dir": "Dossier des exports",
    "erp_file": "Export ERP",
    "web_file": "Export de la boutique",
    "liaison_file": "Fichier de liaison",
    "premium_method": "Méthode premium",
    "premium_threshold": "Seuil premium",
    "top_n": "Produits dans le graphique",
    "previous_run": "Mois comparé",
    "drift_threshold": "Seuil de variation des prix",
    "html_hide_code": "Code masqué dans les pages des étapes",
    "publish_to": "Publication",
    "csv_dialect": "Format des CSV",
    "notify": "E-mail",
    "notify_to": "Destinataires",
    "notify_attach_max_mb": "Pièces jointes, au plus",
}


def label(name: str) -> str:
    return LABELS.get(name, name)


def param(name: str) -> str:
    """A parameter's name as a reader reads it: ``premium_threshold`` -> ``Seuil premium``."""
    return PARAMS.get(name, name)


def param_value(name: str, value: Any) -> str:
    """A parameter's value as a reader reads it: ``False`` -> ``non``, ``0.2`` (drift) -> ``20 %``,
    ``never`` -> ``jamais``, ``2.0`` -> ``2``; a path or an address stays as written."""
    if isinstance(value, bool):
        return yes_no(value)
    if name == "drift_threshold" and _finite(value):
        return percent(value * 100, 0 if float(value * 100).is_integer() else 1)
    if name == "notify_attach_max_mb" and _finite(value):
        return f"{number(value, 0 if float(value).is_integer() else 1)}{NBSP}Mo"
    if _finite(value):
        decimals = len(f"{float(value):.4f}".rstrip("0").split(".")[1])  # 1.5 -> 1,5, 0.125 -> 0,125
        return number(value, decimals)
    text = "" if value is None else str(value)
    if name == "period":
        return month(text) or "le mois précédent (heure de Paris)"
    if name == "previous_run":
        return {"": "aucun", "auto": "automatique : le mois précédent publié"}.get(text, text)
    choices = {"premium_method": METHODS, "csv_dialect": DIALECTS, "notify": NOTIFY}.get(name, {})
    return choices.get(text, text) or "aucun"


def stock_status(value: Any) -> Any:
    return STOCK_STATUS.get(value, value) if isinstance(value, str) else value


def source(value: Any) -> Any:
    return SOURCES.get(value, value) if isinstance(value, str) else value


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def number(x: Any, decimals: int = 0) -> str:
    """``1 467``, ``70 568,60``, ``-1 234,5``."""
    if not _finite(x):
        return MISSING
    text = f"{abs(x):,.{decimals}f}".replace(",", THIN).replace(".", ",")
    return ("-" if x < 0 and float(text.replace(THIN, "").replace(",", ".")) != 0 else "") + text


def money(x: Any) -> str:
    return MISSING if not _finite(x) else f"{number(x, 2)}{NBSP}€"


def signed_money(x: Any) -> str:
    return MISSING if not _finite(x) else ("+" if x > 0 else "") + money(x)


def percent(x: Any, decimals: int = 1, signed: bool = False) -> str:
    """``x`` already in percent: ``percent(12.5)`` is ``12,5 %``."""
    if not _finite(x):
        return MISSING
    return ("+" if signed and x > 0 else "") + f"{number(x, decimals)}{THIN}%"


def when(iso: str | None) -> str:
    """An ISO timestamp as a Paris reader says it."""
    if not iso:
        return MISSING
    t = datetime.fromisoformat(str(iso)).astimezone(PARIS)
    return f"{t.day} {MONTHS_FR[t.month - 1]} {t.year} à {t:%H:%M} (heure de Paris)"


def yes_no(x: Any) -> str:
    return "oui" if x else "non"


def count(n: Any, word: str, plural: str | None = None) -> str:
    """``1 ligne``, ``0 ligne``, ``2 lignes``, ``1 234 vins`` (French: plural from 2)."""
    if not _finite(n):
        return f"{MISSING} {plural or word + 's'}"
    return f"{number(n)} {word if abs(n) < 2 else plural or word + 's'}"


def of(text: str) -> str:
    """``de`` before ``text``, elided before a vowel: ``de novembre 2026``, ``d'octobre 2026``."""
    return f"d'{text}" if text[:1].lower() in "aâàeéèêiîoôuûyh" and text else f"de {text}"


def choices(values: Any) -> str:
    """Allowed values as a sentence: ``oui ou non``, ``« instock », « outofstock » ou « onbackorder »``."""
    shown = [
        yes_no(v)
        if isinstance(v, bool)
        else number(v, 2 if isinstance(v, float) else 0)
        if isinstance(v, (int, float))
        else f"« {v} »"
        for v in values or []
    ]
    return " ou ".join(filter(None, [", ".join(shown[:-1]), *shown[-1:]]))


def month(period: str) -> str:
    """``2026-11`` as a reader says it: ``novembre 2026``."""
    from .periods import label

    return label(period)


MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def month_short(period: str, year: bool = True) -> str:
    """``2026-11`` on a chart's axis: ``nov. 2026`` (``nov.`` without the year)."""
    from .periods import PERIOD

    if not PERIOD.fullmatch(period or ""):
        return ""
    name = MONTHS_SHORT[int(period[5:]) - 1]
    return f"{name}{NBSP}{period[:4]}" if year else name


def signed_number(x: Any, decimals: int = 0) -> str:
    """A change in a count: ``+3``, ``-2``, ``0``."""
    return MISSING if not _finite(x) else ("+" if x > 0 else "") + number(x, decimals)


def compact_money(x: Any) -> str:
    """An amount on a chart's axis: ``950 €``, ``70 k€``, ``1,2 M€``."""
    if not _finite(x):
        return MISSING
    if abs(x) >= 1_000_000:
        return f"{number(x / 1_000_000, 1 if abs(x) < 10_000_000 else 0)}{NBSP}M€"
    if abs(x) >= 10_000:
        return f"{number(x / 1000)}{NBSP}k€"
    return f"{number(x)}{NBSP}€"


def comparison_gap(compared: str | None, expected: str | None) -> str:
    """The warning when a run is compared with another month than the one before it (the
    page's banner and the e-mail), or ``""`` when it is that month."""
    if not expected or compared == expected:
        return ""
    what = month(compared or "") or "une exécution dont le mois n'est pas connu"
    return f"la comparaison porte sur {what}, et non sur le mois précédent ({month(expected)})"


def status(value: str) -> str:
    """A status (a run's, a check's, a comparison's) as a reader reads it."""
    if value.startswith("previous run not found at "):
        return f"mois précédent introuvable ({value.removeprefix('previous run not found at ')})"
    return {**STATUS, **COMPARISON}.get(value, value)


COMPARISON = {
    "compared": "comparé",
    "no previous run given": "aucun mois précédent indiqué",
    "found": "trouvé",
    "not published": "non publié",
    "unusable": "manifeste inutilisable",
    "not looked up": "non cherché",
}


def year_before(yb: dict[str, Any]) -> str:
    """Why there is no comparison with the same month last year, as a reader reads it."""
    name = month(yb.get("period") or "") or "le même mois l'an dernier"
    status = yb.get("status")
    if status == "not published":
        return f"{name[:1].upper()}{name[1:]} n'a pas été publié ({yb.get('where')}) : pas de comparaison."
    if status == "unusable":
        return f"Le manifeste {of(name)} est inutilisable ({yb.get('problem')}) : pas de comparaison."
    if status == "found":
        return f"{name[:1].upper()}{name[1:]} est publié, mais son exécution s'est arrêtée avant l'analyse."
    return "Pas de comparaison : aucun mois précédent n'a été indiqué, ni donc où chercher."
