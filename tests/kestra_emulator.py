r"""What Kestra does with this flow, emulated rule by rule from Kestra's own source, with no
Kestra server. Each rule names the file it comes from: kestra-io/kestra (core, script) at
0.20 to 1.x and kestra-io/plugin-scripts at v0.24.2 (paths below are in those repositories).
Nothing here comes from what our flow assumes.

* Expressions (``VariableRenderer``): Pebble with strict variables and **no escaping**
  (``autoEscaping(false)``); a string without ``{`` is returned as is; ``render(x)`` renders
  its result again until it stops changing unless ``render(x, false)`` (``RenderFunction``:
  ``recursive`` defaults to true); ``??`` catches an undefined attribute
  (``NullCoalescingExpression``); operator precedences from Pebble's ``CoreExtension`` and
  Kestra's ``Extension``; ``secret()`` from ``SECRET_<NAME>`` base64 variables
  (``SecretService``); ``dateAdd``/``date`` (``DateAddFilter``, ``DateFilter``,
  ``AbstractDate``: an Instant is moved to the filter's zone, a string keeps its own offset);
  ``slugify`` (``Slugify.of``); ``errorLogs()`` = the execution's first 25 ERROR logs
  (``LogService.errorLogs``).
* Inputs (``FlowInputOutput``, ``StringInput.validate``): an absent optional input is null,
  any given value (even ``""``) must match the whole ``validator``.
* A script task (``AbstractExecScript``, ``CommandsWrapper``, ``ScriptService``,
  ``TaskRunner``, python ``Commands``): ``env`` values rendered once, then **again** by
  ``TaskRunner.env()``, plus ``WORKING_DIR``; ``commands`` and ``beforeCommands`` rendered as
  the JSON text of the list, then parsed (``Property.asList``); the interpreter
  ``/bin/sh -c`` gets **one** argument: ``set -e``, the before commands, the commands, joined
  by newlines.
* Runners: ``Process`` (``plugin/core/runner/Process.java``) inherits the worker's whole
  environment and adds the task's; ``Docker`` (``script/.../runner/docker/Docker.java``)
  gives the container the task's environment only, the working directory as its workdir
  (bind-mounted at the same path with ``fileHandlingStrategy: MOUNT``), an empty entrypoint,
  the runner's ``user``; it is run here with podman.
* Output (``PluginUtilsService.parseOut``, ``AbstractMetricEntry``): a ``::{json}::`` line
  gives outputs, metrics (``counter`` and ``timer`` only: any other type rejects the whole
  line) and logs; any other stdout line is an INFO log, **every stderr line an ERROR log**;
  ``outputFiles`` collected with Java's glob rules.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

# --------------------------------------------------------------------------------------
# Pebble, as Kestra configures it (core/.../runners/VariableRenderer.java)
# --------------------------------------------------------------------------------------


class PebbleError(Exception):
    """A template Kestra refuses to render (the task fails with IllegalVariableEvaluationException)."""


class Undefined(PebbleError):
    """Pebble's AttributeNotFoundException under strictVariables(true)."""


class Instant(datetime):
    """A java.time.Instant in the variables (execution.startDate: State.getStartDate())."""


TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>\?\?\?|\?\?|==|!=|>=|<=|[()\[\].,|?:~<>=+\-*/%])|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
# precedence of binary operators: Pebble's CoreExtension, plus Kestra's pebble/Extension.java (?? and ???)
BINARY = {"or": 10, "and": 15, "is": 20, "==": 30, "!=": 30, "|": 100, "~": 110, "??": 120, "???": 120}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = TOKEN.match(expr, pos)
        if not m:
            raise PebbleError(f"unexpected character in expression: {expr[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """Precedence climbing over Pebble's operators; the ternary ``a ? b : c`` is the loosest."""

    def __init__(self, expr: str):
        self.toks, self.i = _tokens(expr), 0

    def peek(self, k: int = 0):
        return self.toks[self.i + k] if self.i + k < len(self.toks) else (None, None)

    def take(self, value: str | None = None):
        kind, text = self.peek()
        if kind is None or (value is not None and text != value):
            raise PebbleError(f"expected {value!r}, got {text!r}")
        self.i += 1
        return kind, text

    def parse(self):
        node = self.expression()
        if self.i != len(self.toks):
            raise PebbleError(f"unexpected {self.peek()[1]!r}")
        return node

    def expression(self):
        cond = self.binary(0)
        if self.peek()[1] == "?":
            self.take("?")
            yes = self.expression()
            self.take(":")
            return ("ternary", cond, yes, self.expression())
        return cond

    def binary(self, min_prec: int):
        left = self.unary()
        while True:
            kind, text = self.peek()
            op = text if kind in ("op", "name") else None
            if op not in BINARY or BINARY[op] < min_prec:
                return left
            self.take()
            if op == "is":
                negate = self.peek()[1] == "not"
                if negate:
                    self.take()
                _, test = self.take()
                left = ("test", left, test, negate)
            elif op == "|":
                left = ("filter", left, *self.call_tail())
            else:
                left = ("binary", op, left, self.binary(BINARY[op] + 1))

    def call_tail(self):
        _, name = self.take()
        args, kwargs = [], {}
        if self.peek()[1] == "(":
            self.take("(")
            while self.peek()[1] != ")":
                if self.peek()[0] == "name" and self.peek(1)[1] == "=":
                    key = self.take()[1]
                    self.take("=")
                    kwargs[key] = self.expression()
                else:
                    args.append(self.expression())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take(")")
        return name, args, kwargs

    def unary(self):
        kind, text = self.peek()
        if text == "not":
            self.take()
            return ("not", self.unary())
        if text == "-":
            self.take()
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def primary(self):
        kind, text = self.peek()
        if text == "(":
            self.take("(")
            node = self.expression()
            self.take(")")
            return node
        if kind == "num":
            self.take()
            return ("lit", float(text) if "." in text else int(text))
        if kind == "str":
            self.take()
            return ("lit", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "name":
            if text in ("true", "false"):
                self.take()
                return ("lit", text == "true")
            if text in ("null", "none"):
                self.take()
                return ("lit", None)
            if self.peek(1)[1] == "(":
                return ("call", *self.call_tail())
            self.take()
            return ("var", text)
        raise PebbleError(f"unexpected {text!r}")

    def postfix(self, node):
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                node = ("attr", node, self.take()[1])
            else:
                node = ("item", node, self.expression())
                self.take("]")
        return node


@dataclass
class Scope:
    """What an expression sees: the run's variables, the decoded secrets, the server's zone,
    the execution's logs (for errorLogs()) and the secrets rendered so far (masked in logs)."""

    variables: dict
    secrets: dict[str, str] = field(default_factory=dict)
    server_zone: str = "UTC"  # Kestra's image runs in UTC: ZoneId.systemDefault()
    logs: list = field(default_factory=list)
    used_secrets: set = field(default_factory=set)

    def with_vars(self, **more) -> Scope:
        return Scope({**self.variables, **more}, self.secrets, self.server_zone, self.logs, self.used_secrets)


def _attr(value, name):
    if isinstance(value, dict) and name in value:
        return value[name]
    raise Undefined(f"Unable to find `{name}` used in the expression")


def _evaluate(node, scope: Scope):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return _attr(scope.variables, node[1])
    if kind == "attr":
        return _attr(_evaluate(node[1], scope), node[2])
    if kind == "item":
        return _attr(_evaluate(node[1], scope), _evaluate(node[2], scope))
    if kind == "not":
        return not _evaluate(node[1], scope)
    if kind == "neg":
        return -_evaluate(node[1], scope)
    if kind == "ternary":
        return _evaluate(node[2] if _evaluate(node[1], scope) else node[3], scope)
    if kind == "binary":
        op, left, right = node[1:]
        if op in ("??", "???"):  # NullCoalescingExpression: null or undefined on the left
            try:
                value = _evaluate(left, scope)
            except Undefined:
                return _evaluate(right, scope)
            return value if (value is not None or op == "???") else _evaluate(right, scope)
        a = _evaluate(left, scope)
        if op == "and":
            return bool(a) and bool(_evaluate(right, scope))
        if op == "or":
            return bool(a) or bool(_evaluate(right, scope))
        b = _evaluate(right, scope)
        return {"==": lambda: a == b, "!=": lambda: a != b, "~": lambda: _text(a) + _text(b)}[op]()
    if kind == "test":
        _, subject, test, negate = node
        try:
            value = _evaluate(subject, scope)
        except Undefined:
            if test != "defined":
                raise
            return negate
        result = {
            # Pebble's EmptyTest: null, a blank string (trimmed), an empty collection or map
            "empty": lambda: value is None or (isinstance(value, str) and value.strip() == "") or value in ([], {}),
            "null": lambda: value is None,
            "defined": lambda: True,
        }[test]()
        return result != negate
    if kind == "filter":
        _, subject, name, args, kwargs = node
        value = _evaluate(subject, scope)
        return FILTERS[name](
            value,
            *[_evaluate(a, scope) for a in args],
            **{k: _evaluate(v, scope) for k, v in kwargs.items()},
            _scope=scope,
        )
    if kind == "call":
        _, name, args, kwargs = node
        return FUNCTIONS[name](
            scope, *[_evaluate(a, scope) for a in args], **{k: _evaluate(v, scope) for k, v in kwargs.items()}
        )
    raise PebbleError(f"unknown node {kind}")


def _text(value) -> str:
    """How the JsonWriter prints a value (pebble/JsonWriter.java): maps and lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Instant):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


BLOCK = re.compile(r"\{\{(.*?)\}\}|\{%-?\s*(.*?)\s*-?%\}|\{#.*?#\}", re.S)


def _parse_template(text: str) -> list:
    """Text, {{ expressions }} and {% for x in expr %}...{% endfor %} (the tags this flow uses)."""
    nodes, stack, pos = [], [], 0
    current = nodes
    for m in BLOCK.finditer(text):
        current.append(("text", text[pos : m.start()]))
        pos = m.end()
        if m.group(1) is not None:
            current.append(("print", _Parser(m.group(1)).parse()))
        elif m.group(2) is not None:
            tag = m.group(2)
            if f := re.fullmatch(r"for\s+(\w+)\s+in\s+(.+)", tag, re.S):
                loop = ("for", f.group(1), _Parser(f.group(2)).parse(), [])
                current.append(loop)
                stack.append(current)
                current = loop[3]
            elif tag == "endfor" and stack:
                current = stack.pop()
            else:
                raise PebbleError(f"tag not emulated: {{% {tag} %}}")
    if stack:
        raise PebbleError("unclosed {% for %}")
    current.append(("text", text[pos:]))
    return nodes


def _run_template(nodes: list, scope: Scope) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "print":
            out.append(_text(_evaluate(node[1], scope)))
        else:
            _, name, items, body = node
            for item in _evaluate(items, scope) or []:
                out.append(_run_template(body, scope.with_vars(**{name: item})))
    return "".join(out)


def render(value: str, scope: Scope, recursive: bool = False) -> str:
    """VariableRenderer.render: once, or until the result stops changing (at most 100 times)."""
    if not isinstance(value, str) or "{" not in value:
        return value  # "it's not a Pebble template so we short-circuit rendering"
    for _ in range(100 if recursive else 1):
        result = _run_template(_parse_template(value), scope)
        if result == value or "{" not in result:
            return result
        value = result
    if recursive:
        raise PebbleError("Too many rendering attempts")
    return value


# functions (core/.../runners/pebble/functions/) ---------------------------------------


def _secret(scope: Scope, key: str):
    """SecretFunction + SecretService: SECRET_<KEY> variables of the server, base64-decoded."""
    try:
        value = scope.secrets[key.upper()]
    except KeyError:
        raise PebbleError(f"Cannot find secret for key '{key}'.") from None
    scope.used_secrets.add(value)
    return value


def _render_function(scope: Scope, to_render, recursive: bool = True):
    """RenderFunction: recursive unless render(x, false)."""
    return render(to_render, scope, recursive=recursive)


def _error_logs(scope: Scope):
    """ErrorLogsFunction -> LogService.errorLogs: level ERROR, page 1 of 25, oldest first."""
    return [{"message": e.message, "level": e.level, "taskId": e.task_id} for e in scope.logs if e.level == "ERROR"][
        :25
    ]


FUNCTIONS = {"secret": _secret, "render": _render_function, "errorLogs": _error_logs}


# filters (core/.../runners/pebble/filters/, pebble/AbstractDate.java) -----------------

JAVA_FORMATS = {"iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX", "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX"}
JAVA_FIELDS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S", "SSSSSS": "%f"}


def _zone(name: str | None, scope: Scope):
    return ZoneInfo(name or scope.server_zone)


def _convert(value, zone) -> datetime:
    """AbstractDate.convert: an Instant goes to the zone; a zoned value keeps its own offset."""
    if isinstance(value, Instant):
        return value.astimezone(zone)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 12, tzinfo=zone)
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _java_format(when: datetime, pattern: str) -> str:
    pattern = JAVA_FORMATS.get(pattern, pattern)
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.index("'", i + 1)
            out.append(pattern[i + 1 : end])
            i = end + 1
            continue
        if pattern.startswith("XXX", i):
            offset = when.strftime("%z")
            out.append("Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}")
            i += 3
            continue
        for token, code in JAVA_FIELDS.items():
            if pattern.startswith(token, i):
                out.append(when.strftime(code))
                i += len(token)
                break
        else:
            if pattern[i].isalpha():
                raise PebbleError(f"date pattern not emulated: {pattern!r}")
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _format(value, scope: Scope, format: str = "iso", timeZone: str | None = None, **_):
    """AbstractDate.format: the formatter works in timeZone (the server's zone by default)."""
    zone = _zone(timeZone, scope)
    return _java_format(_convert(value, zone).astimezone(zone), format)


def _plus(when: datetime, amount: int, unit: str) -> datetime:
    """ZonedDateTime.plus(amount, ChronoUnit): months and years clamp the day of the month."""
    if unit in ("MONTHS", "YEARS"):
        months = when.month - 1 + amount * (12 if unit == "YEARS" else 1)
        year, month = when.year + months // 12, months % 12 + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        local = when.replace(tzinfo=None, year=year, month=month, day=day)
        zone = when.tzinfo
        return local.replace(tzinfo=zone) if isinstance(zone, timezone) else local.replace(tzinfo=zone, fold=0)
    seconds = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86400, "WEEKS": 604800}[unit]
    return when + timedelta(seconds=amount * seconds)


def _date_filter(value, format: str = "iso", timeZone: str | None = None, _scope: Scope = None, **kw):
    return None if value is None else _format(value, _scope, format, timeZone)


def _date_add_filter(value, amount, unit, format: str = "iso", timeZone: str | None = None, _scope: Scope = None, **kw):
    """DateAddFilter(amount, unit, format, timeZone, existingFormat, locale)."""
    if value is None:
        return None
    zone = _zone(timeZone, _scope)
    return _format(_plus(_convert(value, zone), int(amount), unit), _scope, format, timeZone)


def slugify(text: str) -> str:
    """core/.../utils/Slugify.of (Java's \\s and \\w are ASCII classes)."""
    slug = re.sub(r"[ \t\n\x0b\f\r]", "-", text)
    slug = re.sub(r"[^A-Za-z0-9_-]", "", unicodedata.normalize("NFD", slug)).replace("_", "-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    slug = slug.removeprefix("-").removesuffix("-")
    return slug.lower()


FILTERS = {
    "date": _date_filter,
    "dateAdd": _date_add_filter,
    "slugify": lambda value, _scope=None: None if value is None else slugify(str(value)),
}


# --------------------------------------------------------------------------------------
# Inputs, variables, logs
# --------------------------------------------------------------------------------------


class InvalidInput(Exception):
    """The execution is refused before it is created (FlowInputOutput)."""


def typed_inputs(flow: dict, given: dict[str, str]) -> dict:
    """FlowInputOutput.resolveInputValue + StringInput.validate (Pattern.matches: the whole value)."""
    typed = {}
    for spec in flow.get("inputs") or []:
        value = given.get(spec["id"], spec.get("defaults"))
        if value is None:
            if spec.get("required", True):
                raise InvalidInput(f"Invalid input for `{spec['id']}`, missing required input")
            typed[spec["id"]] = None
            continue
        if (
            spec["type"] == "STRING"
            and spec.get("validator")
            and not re.fullmatch(_java_regex(spec["validator"]), value)
        ):
            raise InvalidInput(f"Invalid input for `{spec['id']}`, it must match the pattern `{spec['validator']}`")
        typed[spec["id"]] = value
    return typed


def _java_regex(pattern: str) -> str:
    """java.util.regex's \\d is ASCII-only; Python's matches any Unicode digit."""
    return pattern.replace(r"\d", "[0-9]")


@dataclass
class LogEntry:
    level: str
    message: str
    task_id: str


def decoded_secrets(server_env: dict[str, str]) -> dict[str, str]:
    """SecretService.decode: SECRET_<NAME> base64 values, keyed by the upper-case name."""
    return {
        k.removeprefix("SECRET_").upper(): base64.b64decode(v).decode()
        for k, v in server_env.items()
        if k.startswith("SECRET_")
    }


# --------------------------------------------------------------------------------------
# Task runners
# --------------------------------------------------------------------------------------


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


@dataclass
class ProcessRunner:
    """plugin/core/runner/Process.java: processBuilder.environment() (the worker's whole
    environment) then environment.putAll(env); the working directory as the current one."""

    worker_env: dict[str, str]

    def run(self, script: list[str], env: dict[str, str], working_dir: Path, task: dict, timeout: float):
        proc = subprocess.run(
            script, cwd=working_dir, env={**self.worker_env, **env}, capture_output=True, text=True, timeout=timeout
        )
        return proc.returncode, proc.stdout.splitlines(), proc.stderr.splitlines()


@dataclass
class DockerRunner:
    """script/.../runner/docker/Docker.java run with podman: createContainerCmd(image) with
    withEnv(this.env(...)) only, withWorkingDir(workingDirectory), withEntrypoint([""])
    (entryPoint's default), withUser(user) when set, a bind of the working directory at the
    same path for fileHandlingStrategy MOUNT, withCmd(the interpreter and the script), labels
    from ScriptService.labels, removed at the end (delete: true).

    ``network`` replaces the runner's networkMode: the tests' S3 server is on the host's
    127.0.0.1, so the container joins the host's network (the only deviation)."""

    podman: list[str]
    podman_env: dict[str, str]
    network: str | None = "host"
    labels: dict[str, str] = field(default_factory=dict)

    def argv(self, script: list[str], env: dict[str, str], working_dir: Path, task: dict) -> list[str]:
        runner = task.get("taskRunner") or {}
        strategy = runner.get("fileHandlingStrategy", "VOLUME")
        if strategy != "MOUNT":
            raise NotImplementedError("only fileHandlingStrategy: MOUNT is emulated (the flow's)")
        argv = [*self.podman, "run", "--rm", "--workdir", str(working_dir), "--entrypoint", ""]
        argv += ["--volume", f"{working_dir}:{working_dir}:rw"]
        if runner.get("user") is not None:
            argv += ["--user", str(runner["user"])]
        network = self.network if self.network is not None else runner.get("networkMode")
        if network:
            argv += ["--network", network]
        if runner.get("pullPolicy", "IF_NOT_PRESENT") != "ALWAYS":  # the image is present; no registry here
            argv += ["--pull", "never"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        for name in env:  # passed by name from podman's environment, never on its command line
            argv += ["--env", name]
        return [*argv, task["containerImage"], *script]

    def run(self, script: list[str], env: dict[str, str], working_dir: Path, task: dict, timeout: float):
        proc = subprocess.run(
            self.argv(script, env, working_dir, task),
            env={**self.podman_env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        # Docker.java splits each frame on NEWLINE_PATTERN ([^\r\n]+)[\r\n]+: no empty line
        split = re.compile(r"[\r\n]+")
        return proc.returncode, [s for s in split.split(proc.stdout) if s], [s for s in split.split(proc.stderr) if s]


# --------------------------------------------------------------------------------------
# An execution
# --------------------------------------------------------------------------------------

LOG_DATA_SYNTAX = re.compile(r"^::(\{.*})::$")  # PluginUtilsService.PATTERN
METRIC_TYPES = ("counter", "timer")  # AbstractMetricEntry's JsonSubTypes
PYTHON_COMMANDS_ENV = {  # plugin-script-python/.../python/Commands.java run()
    "PYTHONUNBUFFERED": "true",
    "PIP_ROOT_USER_ACTION": "ignore",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


@dataclass
class TaskRun:
    state: str = "SUCCESS"  # SUCCESS, WARNING (stderr lines, warningOnStdErr), FAILED
    exit_code: int | None = None
    script: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    output_files: dict[str, Path] = field(default_factory=dict)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Execution:
    flow: dict
    inputs: dict
    labels: dict
    logs: list[LogEntry]
    task_runs: dict[str, TaskRun]
    state: str
    scope: Scope

    def log_messages(self, level: str | None = None) -> list[str]:
        return [e.message for e in self.logs if level is None or e.level == level]


def _json_list(values: list[str] | None, scope: Scope) -> list[str]:
    """Property.asList: the JSON text of the list is rendered, then parsed."""
    if not values:
        return []
    rendered = render(json.dumps(values, ensure_ascii=False), scope)
    try:
        parsed = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise PebbleError(f"the rendered list is not JSON any more: {exc}") from None
    return [str(v) for v in parsed]


def _seconds(duration: str | None, default: float) -> float:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration or "")
    if not duration or not m:
        return default
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s


def _log(execution_logs: list, scope: Scope, level: str, message: str, task_id: str) -> None:
    for secret in scope.used_secrets:  # RunContextLogger replaces the secrets a task rendered
        if secret:
            message = message.replace(secret, "******")
    execution_logs.append(LogEntry(level, message, task_id))


def run_script_task(
    task: dict, scope: Scope, working_dir: Path, runner, logs: list, timeout: float | None = None
) -> TaskRun:
    run = TaskRun()
    wd_vars = {"workingDir": str(working_dir)}  # runnerAdditionalVars
    try:
        env = {k: render(str(v), scope) for k, v in (task.get("env") or {}).items()}  # AbstractExecScript.commands()
        if task["type"] == "io.kestra.plugin.scripts.python.Commands":
            env |= PYTHON_COMMANDS_ENV
        task_scope = scope.with_vars(**wd_vars)
        before = _json_list(task.get("beforeCommands"), task_scope)
        commands = _json_list(task.get("commands"), task_scope)
        interpreter = task.get("interpreter") or ["/bin/sh", "-c"]
        fail_fast = ["set -e"] if task.get("failFast", True) else []
        run.script = [*interpreter, "\n".join([*fail_fast, *before, *commands])]  # ScriptService.scriptCommands
        run.env = {k: render(v, task_scope) for k, v in env.items()}  # TaskRunner.env(): rendered again
        run.env["WORKING_DIR"] = str(working_dir)
    except PebbleError as exc:
        run.state, run.error = "FAILED", f"Unable to render the task: {exc}"
        _log(logs, scope, "ERROR", run.error, task["id"])
        return run
    working_dir.mkdir(parents=True, exist_ok=True)
    seconds = timeout or _seconds(task.get("timeout"), 3600)
    run.exit_code, run.stdout, run.stderr = runner.run(run.script, run.env, working_dir, task, seconds)
    for line, is_stderr in [*((s, False) for s in run.stdout), *((s, True) for s in run.stderr)]:
        if m := LOG_DATA_SYNTAX.search(line):
            try:
                data = json.loads(m.group(1))
                metrics = data.get("metrics") or []
                if any(metric.get("type") not in METRIC_TYPES for metric in metrics):
                    raise ValueError("unknown metric type")
            except ValueError as exc:
                _log(logs, scope, "WARN", f"Invalid outputs '{exc}'", task["id"])
                continue
            run.outputs.update(data.get("outputs") or {})
            run.metrics.extend(metrics)
            for entry in data.get("logs") or []:
                _log(logs, scope, entry["level"], entry["message"], task["id"])
        else:
            _log(logs, scope, "ERROR" if is_stderr else "INFO", line, task["id"])
    patterns = _json_list(task.get("outputFiles"), task_scope)
    for path in sorted(working_dir.rglob("*")):
        rel = path.relative_to(working_dir).as_posix()
        if path.is_file() and matches(rel, patterns):
            run.output_files[rel] = path
    if run.exit_code != 0:
        run.state = "FAILED"
        run.error = f"Command failed with exit code {run.exit_code}"
        _log(logs, scope, "ERROR", run.error, task["id"])
    elif run.stderr and task.get("warningOnStdErr", True):
        run.state = "WARNING"
    return run


def variables(flow: dict, inputs: dict, execution_id: str, start: datetime, trigger_date: str | None) -> dict:
    """RunVariables: flow, execution (startDate an Instant), inputs, vars (never rendered by
    themselves), and trigger only for a triggered execution (the Schedule's date as a string
    in the trigger's zone: JacksonMapper.toMap(output, zoneId))."""
    found = {
        "flow": {"id": flow["id"], "namespace": flow["namespace"]},
        "execution": {"id": execution_id, "startDate": Instant.fromtimestamp(start.timestamp(), UTC)},
        "inputs": inputs,
        "vars": dict(flow.get("variables") or {}),
        "labels": dict(flow.get("labels") or {}),
    }
    if trigger_date is not None:
        found["trigger"] = {"date": trigger_date}
    return found


def execute(
    flow: dict,
    *,
    runner,
    working_dir: Path,
    server_env: dict[str, str],
    inputs: dict[str, str] | None = None,
    trigger_date: str | None = None,
    start: datetime | None = None,
    execution_id: str = "4wjn5Qxyv8RTtO8Gy4LaZb",
    timeout: float | None = None,
) -> Execution:
    """One execution: inputs validated (InvalidInput raised: no execution), then the tasks in
    order until one fails, then the ``errors`` tasks."""
    typed = typed_inputs(flow, inputs or {})
    start = start or datetime.now(UTC)
    scope = Scope(variables(flow, typed, execution_id, start, trigger_date), decoded_secrets(server_env))
    logs: list[LogEntry] = []
    scope.logs = logs
    labels = dict(flow.get("labels") or {})
    runs: dict[str, TaskRun] = {}
    state = "SUCCESS"
    for task in flow["tasks"]:
        if task["type"] == "io.kestra.plugin.core.execution.Labels":
            try:  # Labels.java: each key and value rendered once
                labels |= {render(k, scope): render(str(v), scope) for k, v in task["labels"].items()}
                runs[task["id"]] = TaskRun()
            except PebbleError as exc:
                runs[task["id"]] = TaskRun(state="FAILED", error=str(exc))
                _log(logs, scope, "ERROR", str(exc), task["id"])
        elif task["type"] in ("io.kestra.plugin.scripts.python.Commands", "io.kestra.plugin.scripts.shell.Commands"):
            runs[task["id"]] = run_script_task(task, scope, working_dir, runner, logs, timeout)
        else:
            raise NotImplementedError(task["type"])
        if runs[task["id"]].state == "FAILED":
            state = "FAILED"
            break
        if runs[task["id"]].state == "WARNING":
            state = "WARNING"
    if state == "FAILED":
        for handler in flow.get("errors") or []:
            if handler["type"] != "io.kestra.plugin.core.log.Log":
                raise NotImplementedError(handler["type"])
            _log(
                logs, scope, handler.get("level", "INFO"), render(handler["message"], scope), handler["id"]
            )  # Log.java
    return Execution(flow, typed, labels, logs, runs, state, scope)


# --------------------------------------------------------------------------------------
# .kestraignore (cli/.../namespaces/files/NamespaceFilesUpdateCommand.java)
# --------------------------------------------------------------------------------------


def uploaded_namespace_files(root: Path) -> list[str]:
    """What ``kestra namespace files update <ns> <root>`` uploads: every regular file under
    ``root`` that ``.kestraignore`` does not exclude (gitignore syntax, KestraIgnore), the
    file itself excluded. `kestra flow namespace update` reads no .kestraignore: it posts
    every .yml/.yaml file under its folder (FlowNamespaceUpdateCommand)."""
    import pathspec

    ignore = root / ".kestraignore"
    spec = pathspec.GitIgnoreSpec.from_lines(ignore.read_text().splitlines() if ignore.is_file() else [])
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p != ignore]
    return sorted(p.relative_to(root).as_posix() for p in files if not spec.match_file(p.relative_to(root).as_posix()))


def flows_posted(folder: Path) -> list[str]:
    """FlowNamespaceUpdateCommand: Files.walk(directory), regular files, YamlParser.isValidExtension."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml")
    )
