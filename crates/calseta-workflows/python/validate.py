# Calseta workflow validator: parses workflow code (stdin) with this interpreter's own `ast`, the
# exact grammar that will run it, and prints a JSON list of problems ([] = valid). The rules are
# v1's (syntax, `async def run`, the import allow- and block-lists, banned builtins) plus dunder
# attribute access and the builtins that reach attributes by name.
import ast
import json
import sys

ALLOWED = {
    "asyncio", "base64", "collections", "copy", "datetime", "enum", "functools", "hashlib", "hmac",
    "html", "http", "inspect", "ipaddress", "itertools", "json", "logging", "math", "operator", "re",
    "statistics", "string", "textwrap", "time", "typing", "typing_extensions", "unicodedata", "urllib",
    "uuid", "calseta",
}
BLOCKED = {
    "os", "subprocess", "importlib", "sys", "builtins", "socket", "ctypes", "pickle", "pathlib", "io",
    "shelve", "shutil", "tempfile", "pty", "termios", "resource", "signal", "multiprocessing",
    "concurrent", "threading", "gc", "weakref", "code", "codeop", "compileall", "dis", "tokenize", "token",
}
BANNED_CALLS = {"exec", "eval", "compile", "__import__", "open", "breakpoint", "input", "memoryview"}
# Builtins that reach attributes or namespaces by name: with a dunder (or computed) name they walk
# from any object to the interpreter's internals.
REFLECTION = {"getattr", "setattr", "delattr", "vars", "globals", "locals", "type", "dir"}
# Allowed dunders: the ones ordinary class definitions use.
ALLOWED_DUNDERS = {"__init__", "__name__", "__repr__", "__str__", "__eq__", "__hash__", "__len__",
                   "__iter__", "__next__", "__enter__", "__exit__", "__aenter__", "__aexit__",
                   "__contains__", "__getitem__", "__lt__", "__le__", "__gt__", "__ge__", "__ne__", "__bool__",
                   "__post_init__", "__doc__"}


def module_allowed(module):
    top = module.split(".")[0]
    if module == "app.workflows" or module.startswith("app.workflows."):
        return True
    return top in ALLOWED


def is_dunder(name):
    return name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS


def check(code):
    try:
        tree = ast.parse(code, "<workflow>")
    except SyntaxError as exc:
        return [f"Syntax error: {exc.msg} (line {exc.lineno}, column {exc.offset})"]
    except ValueError as exc:
        # Null bytes: a ValueError on older Pythons (3.11.2 here), a SyntaxError on newer ones.
        return [f"Syntax error: {exc}"]
    except (RecursionError, MemoryError):
        return ["Syntax error: the code is nested too deeply to parse"]
    errors = []
    if not any(isinstance(node, ast.AsyncFunctionDef) and node.name == "run" for node in tree.body):
        errors.append("Workflow code must define an async function named 'run'")
    for node in ast.walk(tree):
        where = f"Line {getattr(node, 'lineno', 0)}, column {getattr(node, 'col_offset', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in BLOCKED:
                    errors.append(f"{where}: import of '{alias.name}' is not allowed")
                elif not module_allowed(alias.name):
                    errors.append(f"{where}: import of '{alias.name}' is not in the allowed imports list")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                errors.append(f"{where}: relative import is not allowed")
            elif module.split(".")[0] in BLOCKED:
                errors.append(f"{where}: import from '{module}' is not allowed")
            elif not module_allowed(module):
                errors.append(f"{where}: import from '{module}' is not in the allowed imports list")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in BANNED_CALLS:
                errors.append(f"{where}: use of '{name}' is not allowed")
            elif name in REFLECTION:
                if name in ("vars", "globals", "locals", "dir"):
                    errors.append(f"{where}: use of '{name}' is not allowed")
                elif name == "type" and len(node.args) != 1:
                    errors.append(f"{where}: use of 'type' to build classes is not allowed")
                elif name in ("getattr", "setattr", "delattr"):
                    attr = node.args[1] if len(node.args) > 1 else None
                    if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
                        errors.append(f"{where}: '{name}' needs a literal attribute name")
                    elif is_dunder(attr.value) or attr.value.startswith("_"):
                        errors.append(f"{where}: '{name}' of '{attr.value}' is not allowed")
        elif isinstance(node, ast.Attribute) and is_dunder(node.attr):
            errors.append(f"{where}: access to '{node.attr}' is not allowed")
        elif isinstance(node, ast.Name) and is_dunder(node.id) and node.id != "__name__":
            errors.append(f"{where}: use of '{node.id}' is not allowed")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and is_dunder(node.value.strip()):
            # A dunder name as a string reaches internals through any by-name lookup.
            errors.append(f"{where}: the name '{node.value.strip()}' is not allowed")
    return errors


# Read as UTF-8 whatever the sandbox's locale says (the server sends UTF-8).
print(json.dumps(check(sys.stdin.buffer.read().decode("utf-8", "replace"))))
