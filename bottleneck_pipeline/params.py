"""Run parameters: a YAML file per environment plus ``--set KEY=VALUE`` overrides,
checked against the parameters the notebooks declare before any work starts.

The notebooks are the reference: each has one cell tagged ``parameters`` of annotated
literals (``premium_threshold: float = 2.0  # ...``); papermill reads their names,
types and help. A key no notebook declares, or a value of the wrong type, is refused.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from . import choices, locations, paths, periods
from .errors import ParamError, PipelineError, S3Error
from .steps import STEPS

RUNNER_ONLY = {"run_dir"}  # set by the runner (--run-dir), not by a params file
# Parameters of the run itself, not of a notebook (same shape as papermill's inspection).
RUNNER_PARAMS = {
    "publish_to": {
        "name": "publish_to",
        "inferred_type_name": "str",
        "default": '""',
        "help": "empty: no upload; s3://bucket/prefix/: publish the run there (production: .../BottleNeck/)",
    },
    "html_hide_code": {
        "name": "html_hide_code",
        "inferred_type_name": "bool",
        "default": "False",
        "help": "hide the code cells in the notebooks' HTML (headings, narrative, tables, charts and errors stay)",
    },
    "notify": {
        "name": "notify",
        "inferred_type_name": "str",
        "default": '"never"',
        "help": "e-mail after the run: never, failure (an alert when it fails) or always (the month's report too)",
    },
    "notify_to": {
        "name": "notify_to",
        "inferred_type_name": "str",
        "default": '""',
        "help": "comma-separated addresses the e-mail goes to (the SMTP server comes from the environment)",
    },
    "notify_attach_max_mb": {
        "name": "notify_attach_max_mb",
        "inferred_type_name": "float",
        "default": "10.0",
        "help": "the reports are attached while their total stays within this many MB (above: said, not attached)",
    },
}
TYPES = {"str": str, "float": float, "int": int, "bool": bool}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I)


def notebooks_dir() -> Path:
    return paths.project_root() / "notebooks"


def notebook_path(step: str) -> Path:
    return notebooks_dir() / f"{step}.ipynb"


@functools.cache
def declared(step: str) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares: name -> {name, inferred_type_name, default, help},
    as ``papermill.inspect_notebook`` gives them (a test holds the two equal). The cell is
    read directly, without importing papermill, so a wrong parameter is refused at once."""
    import ast
    import json

    nb = json.loads(notebook_path(step).read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    found = {}
    for line in "".join(cell["source"]).splitlines():
        node = ast.parse(line).body[0] if line.strip() else None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            rest = line[node.value.end_col_offset :]
            help_text = rest.split("#", 1)[1].strip() if "#" in rest else ""
            name = node.target.id
            found[name] = {
                "name": name,
                "inferred_type_name": ast.unparse(node.annotation),
                "default": line[node.value.col_offset : node.value.end_col_offset],
                "help": help_text,
            }
    return found


def all_declared() -> dict[str, dict[str, Any]]:
    """Every parameter a run accepts: the notebooks' and the runner's own."""
    merged: dict[str, dict[str, Any]] = dict(RUNNER_PARAMS)
    for step in STEPS:
        merged.update(declared(step))
    return merged


def parse_text(name: str, raw: str, type_name: str) -> Any:
    """A value written as text (``--set``, a params file) read by the parameter's declared
    type: ``010`` stays the folder name ``"010"`` for a str, ``2.5`` is refused for an int."""
    text = raw.strip()
    if type_name == "str":
        return raw
    if type_name == "float":
        if _FLOAT.fullmatch(text):  # plain ASCII decimals (float() would take 1_5 and ١٢ too)
            return float(text)
    elif type_name == "int" and _INT.fullmatch(text):
        return int(text)
    elif type_name == "bool" and text.lower() in TRUE + FALSE:
        return text.lower() in TRUE
    elif type_name not in TYPES:
        return raw
    raise ParamError(f"parameter {name}: expected {type_name}, got {locations.shown(raw)}")


def coerce(name: str, value: Any, type_name: str) -> Any:
    """Check a value given as a Python object (papermill, a test) against its declared type
    (an int is accepted for a float)."""
    expected = TYPES.get(type_name)
    if expected is None:
        return value
    is_bool = isinstance(value, bool)
    if expected is float and isinstance(value, int) and not is_bool:
        value = float(value)
    if (is_bool and expected is not bool) or not isinstance(value, expected):
        shown = (
            "null" if value is None else f"a {type(value).__name__}" if isinstance(value, (list, dict)) else repr(value)
        )
        raise ParamError(f"parameter {name}: expected {type_name}, got {shown}")
    return value


# --- the rule of each parameter's value (its type is checked first) -------------------------

Rule = Callable[[str, Any], None]  # (name, value) -> None, or ParamError


def one_of(values: tuple[str, ...]) -> Rule:
    def rule(name: str, value: Any) -> None:
        if value not in values:
            raise ParamError(f"parameter {name}: must be one of {', '.join(values)}, got {value!r}")

    return rule


def between(low: float, high: float = math.inf) -> Rule:
    def rule(name: str, value: Any) -> None:
        if value < low:
            raise ParamError(f"parameter {name}: must be >= {low}, got {value!r}")
        if value > high:
            raise ParamError(f"parameter {name}: must be <= {high}, got {value!r}")

    return rule


def file_name(name: str, value: str) -> None:
    """A file in the input folder: a name (``{period}`` allowed), never a path."""
    periods.check_placeholders(name, value)
    locations.check_file_name(name, periods.fill(value, "2000-01"))  # the rule holds for any month


def input_dir(name: str, value: str) -> None:
    """A local folder or ``s3://bucket/prefix/`` (``{period}`` allowed)."""
    periods.check_placeholders(name, value)
    _local_or_s3(name, periods.fill(value, "2000-01"), prefix=True)  # the rule holds for any month


def previous_run(name: str, value: str) -> None:
    """The previous month's run (a folder, its manifest, or an ``s3://`` manifest), or auto."""
    periods.refuse_placeholders(name, value, "give the previous month's run, or auto")
    if value != periods.AUTO:
        _local_or_s3(name, value, prefix=False)


def publish_to(name: str, value: str) -> None:
    """Empty, or ``s3://bucket/prefix/`` outside any run's archive."""
    periods.refuse_placeholders(name, value, "the months are published under publish_to (<publish_to><period>/)")
    if not value:
        return
    uri = _s3_uri(name, value, prefix=True)
    if re.search(r"(^|/)runs/[^/]+/", uri.key):
        raise ParamError(
            f"parameter publish_to {value!r}: inside a run's archive (runs/<run_id>/): publishing "
            "there would overwrite that run's evidence"
        )


def _local_or_s3(name: str, value: str, prefix: bool) -> None:
    if value.startswith("s3://"):
        _s3_uri(name, value, prefix)
    else:
        locations.check_location(name, value)


def _s3_uri(name: str, value: str, prefix: bool) -> locations.S3Uri:
    try:
        return locations.S3Uri.parse(value, prefix=prefix, what=f"parameter {name}")
    except S3Error as exc:
        raise ParamError(str(exc)) from None


RULES: dict[str, Rule] = {  # beside the declarations: the notebooks' (their parameters cells) and RUNNER_PARAMS
    "period": lambda name, value: periods.check(value),
    "input_dir": input_dir,
    "erp_file": file_name,
    "web_file": file_name,
    "liaison_file": file_name,
    "previous_run": previous_run,
    "drift_threshold": between(0.0),
    "premium_method": one_of(choices.PREMIUM_METHODS),
    "premium_threshold": between(0.0),
    "top_n": between(1, 100),  # more bars than this is unreadable (and a huge N would exhaust memory)
    "csv_dialect": one_of(choices.CSV_DIALECTS),
    "publish_to": publish_to,
    "notify": one_of(choices.NOTIFY_MODES),
    "notify_to": lambda name, value: locations.addresses(value),
    "notify_attach_max_mb": between(0.0),
}


def validate_value(name: str, value: Any) -> None:
    """A value of the right type checked by its parameter's rule (also called by the
    notebooks when run alone); every number is finite and every text one line."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"parameter {name}: must be a finite number, got {value!r}")
    if isinstance(value, str):
        locations.check_text(name, value)
    if name in RULES:
        RULES[name](name, value)


def parse_override(item: str) -> tuple[str, str]:
    """``KEY=VALUE``: the value stays text until it is read by the parameter's type."""
    if "=" not in item:
        raise ParamError(f"--set {locations.shown(item)}: expected KEY=VALUE")
    key, raw = item.split("=", 1)
    return key.strip(), raw


class _TextLoader(yaml.SafeLoader):
    """YAML whose scalars all stay text (read later by each parameter's declared type),
    except null, so that ``input_dir: 010`` is the folder ``010``, not the number 8."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def defaults() -> dict[str, Any]:
    """Every parameter's default, as its notebook's ``parameters`` cell (or the runner) writes it."""
    import ast

    return {name: ast.literal_eval(spec["default"]) for name, spec in all_declared().items() if name not in RUNNER_ONLY}


def load(
    params_file: str | None, overrides: list[str] | None = None, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every parameter of the run, validated: notebook defaults < ``base`` (a recorded run's
    parameters) < params file < ``--set``."""
    known = all_declared()
    values: dict[str, Any] = dict(base or {})
    sources: dict[str, str] = dict.fromkeys(values, "the recorded run")
    if params_file:
        path = paths.resolve(params_file)
        if not path.is_file():
            raise ParamError(f"params file {params_file}: not found")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextLoader) or {}
        except yaml.YAMLError as exc:
            raise ParamError(f"params file {params_file}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ParamError(f"params file {params_file}: expected a mapping of parameter: value")
        for k, v in data.items():
            values[str(k)], sources[str(k)] = v, f"params file {params_file}"
    for item in overrides or []:
        k, v = parse_override(item)
        values[k], sources[k] = v, "--set"

    result: dict[str, Any] = defaults()
    for name, value in values.items():
        if name in RUNNER_ONLY:
            raise ParamError(f"parameter {name} ({sources[name]}): set it with --{name.replace('_', '-')}")
        if name not in known:
            choices = ", ".join(sorted(set(known) - RUNNER_ONLY))
            raise ParamError(f"unknown parameter {name!r} ({sources[name]}); known parameters: {choices}")
        type_name = known[name]["inferred_type_name"]
        value = parse_text(name, value, type_name) if isinstance(value, str) else value
        result[name] = coerce(name, value, type_name)
        validate_value(name, result[name])
    return result


PAPERMILL_INJECTED = "# Parameters"  # the first line of the cell papermill injects after ``parameters``


def check_notebook(step: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """A notebook's parameters as its kernel holds them, checked as the runner checks them
    (types, choices, ranges, locations). A name papermill injected that another step or the
    run itself declares (the habit of passing the same ``-p`` to every step) is a one-line
    note on stderr, and ignored; one no step declares (a misspelt ``-p``) is an error naming
    the closest parameter of the whole pipeline, never a silent default. Returns them."""
    import ast
    import sys

    names = declared(step)
    for source in namespace.get("In", []):  # the kernel's history holds papermill's injected cell
        if isinstance(source, str) and source.startswith(PAPERMILL_INJECTED):
            for node in ast.parse(source).body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                for name in (t.id for t in targets if isinstance(t, ast.Name)):
                    if name in names:
                        continue
                    owner = next((s for s in STEPS if name in declared(s)), None)
                    if owner or name in RUNNER_PARAMS:
                        whose = owner or "the run (run_pipeline.py), not of a notebook"
                        print(f"note: parameter {name} is a parameter of {whose}; {step} ignores it", file=sys.stderr)
                        continue
                    raise ParamError(
                        f"parameter {name}: not a parameter of {step} (its parameters: "
                        f"{', '.join(names)}){_suggestion(name, step)}"
                    )
    values = {}
    for name, spec in names.items():
        values[name] = coerce(name, namespace[name], spec["inferred_type_name"])
        validate_value(name, values[name])
    return values


def _suggestion(name: str, step: str) -> str:
    """``; did you mean premium_threshold?``: the closest parameter of the whole pipeline (a
    misspelt ``input_dri`` on 03 means 01's input_dir, never 03's run_dir), with the step it
    belongs to when it is not ``step``'s."""
    import difflib

    known = {n: s for s in reversed(STEPS) for n in declared(s)}  # a shared name (run_dir): the earliest step
    known |= dict.fromkeys(RUNNER_PARAMS, "")
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    if not close:
        return ""
    owner = known[close[0]]
    where = "" if owner == step or close[0] in declared(step) else f" (a parameter of {owner or 'the run'})"
    return f"; did you mean {close[0]}{where}?"


def for_step(step: str, params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` a notebook declares (papermill injects only those)."""
    names = declared(step)
    return {k: v for k, v in params.items() if k in names}


PRODUCTION = "params/production.yaml"
FIGURE_RULES = ("premium_method", "premium_threshold", "drift_threshold")  # the parameters that change the figures


def production_differences(run_params: dict[str, Any]) -> dict[str, list[Any]]:
    """The rules (:data:`FIGURE_RULES`) a run used that differ from production's (its params file
    over the notebooks' defaults): name -> [production's value, the run's]. Empty when the
    production file cannot be read: a page never fails over it."""
    try:
        production = load(PRODUCTION)
    except (PipelineError, OSError):
        return {}
    return {
        name: [production[name], run_params[name]]
        for name in FIGURE_RULES
        if name in run_params and run_params[name] != production.get(name)
    }
