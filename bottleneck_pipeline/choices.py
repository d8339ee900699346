"""The values a choice parameter may take: one home for each list, read by :mod:`params`,
which refuses any other value before any work starts, and by the module that acts on the
value. A light module (no import): the modules that act on these values sit on other
layers (:mod:`notify` above the run's record, :mod:`products` among the data modules, which
import DuckDB), and :mod:`params` must reach neither to check a value."""

from __future__ import annotations

# the product CSVs' dialect: standard (comma, "." decimals) or excel-fr (";", "," decimals); products.py
CSV_DIALECTS = ("standard", "excel-fr")
# when the run sends its e-mail: never, on failure only, always (the month's report too); notify.py
NOTIFY_MODES = ("never", "failure", "always")
# the rule that makes a wine premium: z-score of price, or price over Q3 + k x IQR; sql/marts/premium_rule.sql
PREMIUM_METHODS = ("zscore", "iqr")
