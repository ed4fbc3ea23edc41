"""The referrals API's routes hold no SQL: they parse, authorise, open the transaction and
call the use cases and ``store.py``, where every query is a named function. Nor do the
use cases the routes call (``access.py``, ``intake.py``): a request goes route -> use
case -> store. This reads their source, so SQL built there again fails here, naming the
line."""

from __future__ import annotations

import ast
from pathlib import Path

import services.referrals.api as api_package

API = Path(api_package.__file__).parent
USE_CASES = [API.parent / "access.py", API.parent / "intake.py"]
#: What a route may take from SQLAlchemy: the Session and Row types and the errors,
#: nothing that builds a statement.
ALLOWED = {"sqlalchemy.orm", "sqlalchemy.exc", "sqlalchemy.Row"}
#: A table's columns, and the statements a table builds.
TABLE_PARTS = {"c", "insert", "update", "delete", "select"}


def _sql_built_in(source: str) -> list[str]:
    """Each place ``source`` imports SQLAlchemy's statement builders or reaches into a
    table of ``store`` (its columns ``.c``, or ``.insert()``/``.update()``/``.delete()``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = [a.name for a in node.names if f"{node.module}.{a.name}" not in ALLOWED]
            if node.module not in ALLOWED and names:
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sqlalchemy") and alias.name not in ALLOWED:
                    found.append((node.lineno, f"import {alias.name}"))
        elif _reaches_into_a_table(node):
            found.append((node.lineno, f"store.{node.value.attr}.{node.attr}"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def _reaches_into_a_table(node: ast.AST) -> bool:
    """``store.<table>.c`` or ``store.<table>.insert`` and the like (the tables are
    module attributes of ``store``)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr in TABLE_PARTS
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "store"
    )


def test_the_checker_finds_sql_built_in_a_route():
    route = (
        "from sqlalchemy import select, update\n"
        "import sqlalchemy\n"
        "from sqlalchemy.orm import Session\n"
        "from sqlalchemy import orm, exc, Row\n"
        "def f(session):\n"
        "    session.execute(store.referrals.insert().values(id='x'))\n"
        "    return store.connections.c.id\n"
    )
    assert _sql_built_in(route) == [
        "line 1: from sqlalchemy import select, update",
        "line 2: import sqlalchemy",
        "line 6: store.referrals.insert",
        "line 7: store.connections.c",
    ]
    assert _sql_built_in("row = store.referral(session, referral_id, lock=True)\n") == []


def test_the_referrals_api_builds_no_sql():
    modules = sorted(API.glob("*.py"))
    assert len(modules) >= 9, f"expected the api package's modules in {API}"
    found = [
        f"{path.name} {place}" for path in modules for place in _sql_built_in(path.read_text())
    ]
    assert found == [], "move these into services/referrals/store.py:\n" + "\n".join(found)


def test_the_use_cases_the_routes_call_build_no_sql():
    found = [
        f"{path.name} {place}" for path in USE_CASES for place in _sql_built_in(path.read_text())
    ]
    assert found == [], "move these into services/referrals/store.py:\n" + "\n".join(found)


def test_route_modules_do_not_import_each_other():
    """One module per resource, each depending on the use cases and ``deps.py`` only: a
    rule two resources share lives in a use-case module, not in one of the routes."""
    found = []
    for path in sorted(API.glob("*.py")):
        if path.name == "__init__.py":  # it gathers the routers: it imports every one
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("services.referrals.api.") and not module.endswith(".deps"):
                found.append(f"{path.name} line {node.lineno}: from {module}")
    assert found == []
