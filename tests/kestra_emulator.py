r"""A small emulation of Kestra's Process task runner for a Commands task, with no Kestra
server: enough to run the flow's own commands the way a Kestra worker would.

What it reproduces:

* the namespace files: what ``kestra namespace files update <ns> <folder>`` uploads (every
  file but those ``.kestraignore`` excludes, gitignore syntax), then the task's include /
  exclude globs as Kestra applies them to ``/``-rooted paths, a pattern starting with a
  letter getting ``**/`` in front (so ``README.md`` also takes ``bench/README.md``) and a
  pattern starting with ``/`` anchored at the root;
* the task's ``env`` rendered (``secret()``, ``vars``, ``render()``, ``workingDir``, the
  flow's period expression over ``inputs`` and the trigger date) on top of the worker's
  whole environment;
* ``beforeCommands`` then ``commands`` run by ``/bin/sh -c`` with ``set -e`` in a fresh
  working directory with ``WORKING_DIR`` set;
* ``::{...}::`` lines read from both streams with Kestra's pattern (``^::(\{.*})::$``) as
  outputs and metrics, and ``outputFiles`` collected with Java's glob rules (``*`` stays
  inside a folder, ``**`` crosses folders, so ``**/*.html`` misses top-level files).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo


def glob_regex(pattern: str) -> re.Pattern:
    """java.nio PathMatcher "glob:" syntax as a regular expression over relative paths."""
    out, i, in_group = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            out.append("(?:")
            in_group = True
        elif c == "}" and in_group:
            out.append(")")
            in_group = False
        elif c == "," and in_group:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def matches(path: str, patterns: list[str]) -> bool:
    return any(glob_regex(p).match(path) for p in patterns)


PERIOD_EXPRESSION = (
    "inputs.period ?? ((trigger.date ?? execution.startDate) | dateAdd(-1, 'MONTHS') "
    "| date('yyyy-MM', timeZone='Europe/Paris'))"
)


@dataclass
class Context:
    """What an execution's expressions see."""

    secrets: dict[str, str]
    variables: dict[str, str]
    working_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)
    trigger_date: datetime | None = None  # a scheduled execution's date
    start_date: datetime = field(default_factory=lambda: datetime.now(ZoneInfo("UTC")))


def _month_before(when: datetime) -> str:
    paris = when.astimezone(ZoneInfo("Europe/Paris"))
    year, month = (paris.year, paris.month - 1) if paris.month > 1 else (paris.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def render(value: str, ctx: Context) -> str:
    """The Pebble expressions this flow uses; any other expression is an error."""

    def one(m: re.Match) -> str:
        expr = " ".join(m.group(1).split())
        if s := re.fullmatch(r"secret\(\s*'([A-Za-z0-9_]+)'\s*\)", expr):
            return ctx.secrets[s.group(1)]
        if v := re.fullmatch(r"render\(vars\.([A-Za-z0-9_]+)\)", expr):
            return render(ctx.variables[v.group(1)], ctx)
        if v := re.fullmatch(r"vars\.([A-Za-z0-9_]+)", expr):
            return str(ctx.variables[v.group(1)])
        if expr == "workingDir":
            return str(ctx.working_dir)
        if expr == PERIOD_EXPRESSION:
            if ctx.inputs.get("period") is not None:
                return ctx.inputs["period"]
            return _month_before(ctx.trigger_date or ctx.start_date)
        raise ValueError(f"expression not emulated: {{{{ {expr} }}}}")

    return re.sub(r"\{\{(.*?)\}\}", one, str(value))


@dataclass
class TaskRun:
    returncode: int
    stdout: str
    stderr: str
    working_dir: Path
    outputs: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    output_files: dict[str, Path] = field(default_factory=dict)


def uploaded_namespace_files(root: Path) -> list[str]:
    """What ``kestra namespace files update <ns> <root>`` uploads: every regular file under
    ``root`` that ``.kestraignore`` does not exclude, the file itself excluded (Kestra's
    NamespaceFilesUpdateCommand with its KestraIgnore)."""
    import pathspec

    ignore = root / ".kestraignore"
    spec = pathspec.GitIgnoreSpec.from_lines(ignore.read_text().splitlines() if ignore.is_file() else [])
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p != ignore]
    return sorted(p.relative_to(root).as_posix() for p in files if not spec.match_file(p.relative_to(root).as_posix()))


def kestra_glob(pattern: str) -> str:
    """A namespace-files include/exclude pattern as Kestra matches it against a ``/``-rooted path."""
    return "**/" + pattern if pattern[:1].isalnum() else pattern


def selected(rel: str, patterns: list[str]) -> bool:
    return any(glob_regex(kestra_glob(p)).match("/" + rel) for p in patterns)


def copy_namespace_files(source: Path, dest: Path, task: dict) -> list[str]:
    ns = task.get("namespaceFiles") or {}
    if not ns.get("enabled"):
        return []
    include, exclude = ns.get("include") or ["**"], ns.get("exclude") or []
    copied = []
    for rel in uploaded_namespace_files(source):
        if selected(rel, include) and not selected(rel, exclude):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest / rel)
            copied.append(rel)
    return copied


LOG_DATA_SYNTAX = re.compile(r"^::(\{.*})::$")  # Kestra's TaskLogLineMatcher


def run_commands_task(
    flow: dict,
    task: dict,
    namespace_source: Path,
    working_dir: Path,
    *,
    secrets: dict[str, str],
    base_env: dict[str, str],
    before_commands: list[str] | None = None,
    inputs: dict[str, str] | None = None,
    trigger_date: datetime | None = None,
    timeout: float = 900,
) -> TaskRun:
    working_dir.mkdir(parents=True)
    copy_namespace_files(namespace_source, working_dir, task)
    ctx = Context(secrets, flow.get("variables") or {}, working_dir, inputs or {}, trigger_date)
    env = {**base_env, "WORKING_DIR": str(working_dir)}  # the worker's whole environment, then the task's
    for k, v in (task.get("env") or {}).items():
        env[k] = render(v, ctx)
    before = task.get("beforeCommands") or [] if before_commands is None else before_commands
    commands = [render(c, ctx) for c in [*before, *task["commands"]]]
    script = "set -e\n" + "\n".join(commands)
    proc = subprocess.run(
        ["/bin/sh", "-c", script], cwd=working_dir, env=env, capture_output=True, text=True, timeout=timeout
    )
    run = TaskRun(proc.returncode, proc.stdout, proc.stderr, working_dir)
    for line in [*proc.stdout.splitlines(), *proc.stderr.splitlines()]:
        if m := LOG_DATA_SYNTAX.match(line):
            message = json.loads(m.group(1))
            run.outputs.update(message.get("outputs", {}))
            run.metrics.extend(message.get("metrics", []))
    patterns = task.get("outputFiles") or []
    for path in sorted(working_dir.rglob("*")):
        rel = path.relative_to(working_dir).as_posix()
        if path.is_file() and matches(rel, patterns):
            run.output_files[rel] = path
    return run
