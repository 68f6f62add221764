# Calseta workflow harness: runs one workflow in this (sandboxed) interpreter and talks to the
# parent over stdin/stdout, one JSON object per line. The parent sends the job first; the harness
# sends requests ({"id", "op", ...}: http, secret, integration) and waits for their replies, streams
# log entries ({"op": "log"}), and ends with {"op": "result"}. Everything the code does outside
# goes through the parent; this process has no network, no writable filesystem and no children.
import asyncio
import builtins
import datetime as _dt
import json
import resource
import sys
import traceback
import types

_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer
# What the workflow prints goes to stderr (bounded by the parent), never into the protocol.
sys.stdout = sys.stderr

ALLOWED_IMPORTS = {
    "asyncio", "base64", "collections", "copy", "datetime", "enum", "functools", "hashlib", "hmac",
    "html", "http", "inspect", "ipaddress", "itertools", "json", "logging", "math", "operator", "re",
    "statistics", "string", "textwrap", "time", "typing", "typing_extensions", "unicodedata", "urllib",
    "uuid", "calseta", "app",
}
REMOVED_BUILTINS = {"__import__", "open", "exec", "eval", "compile", "breakpoint", "input", "memoryview"}
_next_id = [0]


def _send(message):
    _OUT.write(json.dumps(message, default=str).encode() + b"\n")
    _OUT.flush()


def _call(op, **fields):
    _next_id[0] += 1
    _send({"id": _next_id[0], "op": op, **fields})
    line = _IN.readline()
    if not line:
        raise RuntimeError("the parent closed the channel")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise RuntimeError(reply.get("error") or f"{op} failed")
    return reply.get("value")


class WorkflowResult:
    """What a workflow returns: success, a message and optional data."""

    def __init__(self, success, message, data=None):
        self.success = bool(success)
        self.message = str(message)
        self.data = dict(data or {})

    @classmethod
    def ok(cls, message="OK", data=None):
        return cls(True, message, data)

    @classmethod
    def fail(cls, message, data=None):
        return cls(False, message, data)

    def __repr__(self):
        return f"WorkflowResult(success={self.success!r}, message={self.message!r})"


class _Record:
    """A read-only record (indicator or alert context)."""

    def __init__(self, fields):
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name):
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError("workflow context records are read-only")

    def __repr__(self):
        return f"{type(self).__name__}({self._fields!r})"


class IndicatorContext(_Record):
    pass


class AlertContext(_Record):
    pass


class Response:
    """An HTTP response, shaped like httpx's."""

    def __init__(self, reply):
        self.status_code = reply["status_code"]
        self.headers = dict(reply.get("headers") or {})
        self.text = reply.get("text") or ""
        self.url = reply.get("url")

    @property
    def is_success(self):
        return 200 <= self.status_code < 300

    def json(self):
        return json.loads(self.text)

    def raise_for_status(self):
        if not self.is_success:
            raise RuntimeError(f"HTTP {self.status_code} from {self.url}")
        return self


class HttpClient:
    """`ctx.http`: every request is made by the parent, through its SSRF-safe client, and logged."""

    async def request(self, method, url, *, params=None, headers=None, json=None, data=None, content=None,
                      timeout=None):
        body = None
        if json is not None:
            body = {"json": json}
        elif data is not None:
            body = {"form": data} if isinstance(data, dict) else {"text": str(data)}
        elif content is not None:
            body = {"text": content.decode() if isinstance(content, (bytes, bytearray)) else str(content)}
        reply = _call("http", method=str(method).upper(), url=str(url), params=params or {},
                      headers=dict(headers or {}), body=body, timeout=timeout)
        return Response(reply)

    async def get(self, url, **kw):
        return await self.request("GET", url, **kw)

    async def post(self, url, **kw):
        return await self.request("POST", url, **kw)

    async def put(self, url, **kw):
        return await self.request("PUT", url, **kw)

    async def patch(self, url, **kw):
        return await self.request("PATCH", url, **kw)

    async def delete(self, url, **kw):
        return await self.request("DELETE", url, **kw)


class Secrets:
    """`ctx.secrets`: workflow secrets only, fetched from the parent when read."""

    def get(self, name, default=None):
        value = _call("secret", name=str(name))
        return default if value is None else value

    def __getitem__(self, name):
        value = _call("secret", name=str(name))
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return _call("secret", name=str(name)) is not None


class WorkflowLogger:
    """`ctx.log(msg, **kw)` and `.info/.warning/.error/.debug`, as v1 renders them."""

    def _entry(self, level, message, extra):
        entry = {"level": level, "message": str(message),
                 "ts": _dt.datetime.now(_dt.timezone.utc).isoformat()}
        if extra:
            entry["extra"] = extra
        _send({"op": "log", "entry": entry})

    def __call__(self, message, **extra):
        self._entry("info", message, extra)

    def info(self, message, **extra):
        self._entry("info", message, extra)

    def warning(self, message, **extra):
        self._entry("warning", message, extra)

    def error(self, message, **extra):
        self._entry("error", message, extra)

    def debug(self, message, **extra):
        self._entry("debug", message, extra)


class _Integration:
    """An identity integration whose calls the parent makes with credentials this process never sees."""

    def __init__(self, name, methods):
        self._name = name
        for method in methods:
            setattr(self, method, self._method(method))

    def _method(self, method):
        async def call(*args):
            return _call("integration", integration=self._name, method=method, args=[str(a) for a in args])
        call.__name__ = method
        return call


OKTA_METHODS = ["revoke_sessions", "suspend_user", "unsuspend_user", "reset_password", "expire_password"]
ENTRA_METHODS = ["revoke_sessions", "disable_account", "enable_account", "reset_mfa"]


class Integrations:
    def __init__(self, available):
        self.okta = _Integration("okta", OKTA_METHODS) if "okta" in available else None
        self.entra = _Integration("entra", ENTRA_METHODS) if "entra" in available else None


class WorkflowContext:
    """What `run(ctx)` receives."""

    def __init__(self, job):
        self.indicator = IndicatorContext(job.get("indicator") or {})
        self.alert = AlertContext(job["alert"]) if job.get("alert") else None
        self.http = HttpClient()
        self.log = WorkflowLogger()
        self.secrets = Secrets()
        self.integrations = Integrations(set(job.get("integrations") or []))


def _install_modules():
    # v1 code imports these; both spellings resolve to this harness's classes.
    exported = {"WorkflowContext": WorkflowContext, "WorkflowResult": WorkflowResult,
                "IndicatorContext": IndicatorContext, "AlertContext": AlertContext}
    for name in ["app", "app.workflows", "app.workflows.context", "calseta", "calseta.workflows"]:
        module = types.ModuleType(name)
        module.__path__ = []
        module.__dict__.update(exported)
        sys.modules[name] = module


def _restricted_builtins():
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.split(".")[0] not in ALLOWED_IMPORTS:
            raise ImportError(f"import of '{name}' is not allowed in workflows")
        return real_import(name, globals, locals, fromlist, level)

    allowed = {k: v for k, v in vars(builtins).items()
               if k not in REMOVED_BUILTINS and not (k.startswith("__") and k.endswith("__"))}
    allowed["__import__"] = guarded_import
    allowed["__build_class__"] = builtins.__build_class__
    return allowed


def _finish(success, message, data=None):
    _send({"op": "result", "success": bool(success), "message": str(message), "data": data or {}})


def _limit_cpu(seconds):
    # This child may have been started ahead of its run with the longest CPU limit: lower it to
    # this run's (soft and hard, so the workflow cannot raise it again) before any code runs.
    used = resource.getrusage(resource.RUSAGE_SELF)
    limit = int(used.ru_utime + used.ru_stime) + int(seconds)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or limit + 1 < hard:
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))


def main():
    # Everything that does not depend on the job is done before it arrives (a waiting child), and
    # the parent is told this interpreter is ready for one.
    _install_modules()
    _send({"op": "ready"})
    job = json.loads(_IN.readline())
    if job.get("cpu_seconds"):
        _limit_cpu(job["cpu_seconds"])
    code = job["code"]
    try:
        compiled = builtins.compile(code, "<workflow>", "exec")
    except SyntaxError as exc:
        return _finish(False, f"Workflow code syntax error: {exc}")
    namespace = {"__builtins__": _restricted_builtins(), "__name__": "workflow", "__doc__": None,
                 "__package__": None, "__loader__": None, "__spec__": None}
    try:
        builtins.exec(compiled, namespace)
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
        return _finish(False, "Workflow code raised an exception during module load: "
                       f"{exc}\n{traceback.format_exc(limit=5)}")
    run = namespace.get("run")
    if run is None or not asyncio.iscoroutinefunction(run):
        return _finish(False, "Workflow code does not define an async function named 'run'")
    try:
        result = asyncio.run(run(WorkflowContext(job)))
    except MemoryError:
        return _finish(False, f"Workflow exceeded memory limit ({job.get('memory_mb')}MB)")
    except BaseException as exc:  # noqa: BLE001
        return _finish(False, f"Workflow run() raised an exception: {exc}\n{traceback.format_exc(limit=5)}")
    if not isinstance(result, WorkflowResult):
        return _finish(False, f"Workflow run() returned unexpected type: {type(result).__name__}. "
                       "Must return a WorkflowResult instance.")
    try:
        json.dumps(result.data, default=str)
    except (TypeError, ValueError) as exc:
        return _finish(False, f"Workflow result data is not JSON: {exc}")
    return _finish(result.success, result.message, result.data)


main()
