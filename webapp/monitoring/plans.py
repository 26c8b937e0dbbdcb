"""Query plans, made safely: what the planner would do with a captured statement, without its values.

A captured fingerprint or a ``pg_stat_statements`` entry keeps its text with ``$n`` placeholders
and no values (none are ever stored). Its **generic plan** is the plan PostgreSQL would use for
any values: on PostgreSQL 12–15 the statement is ``PREPARE``d, ``plan_cache_mode`` is forced to
``force_generic_plan`` for the transaction only (``SET LOCAL``), and ``EXPLAIN EXECUTE`` passes
NULLs, all inside a savepoint that is rolled back; the prepared statement (which a rollback keeps)
is deallocated before the savepoint ends, so nothing outlives the transaction, as PgBouncer's
transaction mode requires. ``EXPLAIN`` without ``ANALYZE`` runs nothing, so even an ``UPDATE``'s
plan is safe to show.

``EXPLAIN ANALYZE`` does run the statement, so it is only for a single plain ``SELECT`` (proved by
PostgreSQL's own parser, ``pglast``: no ``INTO``, no row locks, no data-modifying ``WITH``, none of
the functions whose effects a rollback cannot undo), in a savepoint set read-only (a function
that writes fails) and rolled back, under the dashboard's statement timeout. The view lets only
admins ask for it and audits each run.

Plans are drawn as a list of nodes in tree order with their depth. A sequential scan over a table
the planner thinks holds ``LARGE_TABLE_ROWS`` or more, and (with ``ANALYZE``) a node whose actual
rows differ from the estimate ``ESTIMATE_ERROR_FACTOR``-fold, are flagged.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor
from sqlalchemy import text
from sqlalchemy.engine import Connection

from webapp.monitoring.sql_text import safe_text

LARGE_TABLE_ROWS = 10_000
ESTIMATE_ERROR_FACTOR = 10
# Below this many rows either way, a wrong estimate changes no plan worth flagging.
ESTIMATE_ERROR_MIN_ROWS = 100
PLANNABLE = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
# Effects a rolled-back, read-only transaction does not undo: session locks, signals to other
# backends, server files and settings, notifications, sleeping out the worker.
REFUSED_FUNCTIONS = (
    "pg_advisory",
    "pg_try_advisory",
    "pg_cancel_backend",
    "pg_terminate_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_notify",
    "pg_sleep",
    "set_config",
    "lo_",
    "dblink",
    "pg_read",
    "pg_ls_",
    "pg_stat_reset",
    "pg_stat_statements_reset",
)


class PlanRefused(ValueError):
    """The statement may not be planned (or analysed) here; the message says why."""


@dataclass(frozen=True)
class PlanNode:
    depth: int
    node_type: str
    relation: str | None
    index: str | None
    estimated_rows: float
    total_cost: float
    actual_rows: float | None
    actual_loops: float | None
    actual_ms: float | None
    condition: str | None
    flags: list[str]


@dataclass(frozen=True)
class Plan:
    statement: str
    generic: bool
    analyzed: bool
    total_cost: float
    planning_ms: float | None
    execution_ms: float | None
    nodes: list[PlanNode]
    large_table_rows: int
    estimate_error_factor: int

    @property
    def flagged(self) -> int:
        return sum(1 for node in self.nodes if node.flags)


class _Parameters(Visitor):
    def __init__(self) -> None:
        self.numbers: set[int] = set()
        self.functions: list[str] = []

    def visit_ParamRef(self, ancestors: Any, node: ast.ParamRef) -> None:
        if node.number is not None:
            self.numbers.add(node.number)

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        self.functions.append(".".join(part.sval or "" for part in node.funcname or () if isinstance(part, ast.String)))


def _single_statement(statement: str) -> tuple[ast.Node, _Parameters]:
    try:
        parsed = parse_sql(statement)
    except ParseError as error:
        raise PlanRefused(f"PostgreSQL cannot parse this statement: {error}") from None
    if len(parsed) != 1:
        raise PlanRefused(f"Exactly one statement is planned at a time; this text holds {len(parsed)}.")
    found = _Parameters()
    found(parsed[0])
    statement_node = parsed[0].stmt
    if statement_node is None:
        raise PlanRefused("This text holds no statement.")
    return statement_node, found


def plannable(statement: str) -> tuple[str, int]:
    """The statement and how many ``$n`` parameters it takes, if it is one plannable statement."""
    node, found = _single_statement(statement)
    if not isinstance(node, PLANNABLE):
        raise PlanRefused(f"Only SELECT, INSERT, UPDATE and DELETE have plans; this is a {type(node).__name__}.")
    return statement, max(found.numbers, default=0)


def read_only_select(statement: str) -> str:
    """The statement, if it is one ``SELECT`` that cannot write or lock (else :class:`PlanRefused`)."""
    node, found = _single_statement(statement)
    if not isinstance(node, ast.SelectStmt):
        raise PlanRefused("EXPLAIN ANALYZE runs the statement: only a SELECT is allowed.")
    if found.numbers:
        raise PlanRefused("EXPLAIN ANALYZE needs the values: replace each $n placeholder with one.")
    if node.intoClause is not None:
        raise PlanRefused("SELECT … INTO creates a table: not allowed.")
    if node.lockingClause:
        raise PlanRefused("SELECT … FOR UPDATE/SHARE locks rows: not allowed.")
    for cte in (node.withClause.ctes or ()) if node.withClause else ():
        if not isinstance(cte.ctequery, ast.SelectStmt):
            raise PlanRefused("A WITH query that writes is not allowed.")
    for function in found.functions:
        name = function.rpartition(".")[2].lower()
        if name.startswith(REFUSED_FUNCTIONS):
            raise PlanRefused(f"{name}() has effects a rollback does not undo: not allowed.")
    return statement


def _relation_rows(connection: Connection, relations: set[str]) -> dict[str, float]:
    if not relations:
        return {}
    rows = connection.execute(
        text(
            "SELECT name, reltuples FROM unnest(CAST(:names AS text[])) AS name "
            "JOIN pg_class ON pg_class.oid = to_regclass(name)"
        ),
        {"names": sorted(relations)},
    )
    return {name: float(reltuples) for name, reltuples in rows}


def walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("Plans", ()):
        yield from walk(child, depth + 1)


def _relation(node: dict[str, Any]) -> str | None:
    name = node.get("Relation Name")
    if name is None:
        return None
    schema = node.get("Schema")
    return name if schema in (None, "public") else f"{schema}.{name}"


def _flags(node: dict[str, Any], relation: str | None, table_rows: dict[str, float]) -> list[str]:
    flags = []
    if node["Node Type"] == "Seq Scan" and relation and table_rows.get(relation, 0) >= LARGE_TABLE_ROWS:
        flags.append(f"sequential scan over about {table_rows[relation]:,.0f} rows")
    actual = node.get("Actual Rows")
    if actual is not None and node.get("Actual Loops"):
        estimated = float(node["Plan Rows"])
        larger, smaller = max(actual, estimated), max(min(actual, estimated), 1.0)
        if larger >= ESTIMATE_ERROR_MIN_ROWS and larger / smaller >= ESTIMATE_ERROR_FACTOR:
            flags.append(f"estimated {estimated:,.0f} rows, got {actual:,.0f}")
    return flags


def _node_label(node: dict[str, Any]) -> str:
    """As EXPLAIN's text format names nodes: "Delete" for a ModifyTable, joins with their type."""
    if node["Node Type"] == "ModifyTable" and "Operation" in node:
        return str(node["Operation"])
    return node["Node Type"] + (f" ({node['Join Type']})" if "Join Type" in node else "")


def _condition(node: dict[str, Any]) -> str | None:
    parts = [node[key] for key in ("Index Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter") if key in node]
    return " and ".join(parts) if parts else None


def draw(connection: Connection, explained: dict[str, Any], statement: str, generic: bool) -> Plan:
    """EXPLAIN's JSON as a flat list of nodes in tree order, flagged."""
    root = explained["Plan"]
    walked = list(walk(root))
    table_rows = _relation_rows(connection, {name for _, node in walked if (name := _relation(node))})
    nodes = [
        PlanNode(
            depth=depth,
            node_type=_node_label(node),
            relation=_relation(node),
            index=node.get("Index Name"),
            estimated_rows=float(node["Plan Rows"]),
            total_cost=float(node["Total Cost"]),
            actual_rows=node.get("Actual Rows"),
            actual_loops=node.get("Actual Loops"),
            actual_ms=node.get("Actual Total Time"),
            condition=_condition(node),
            flags=_flags(node, _relation(node), table_rows),
        )
        for depth, node in walked
    ]
    return Plan(
        statement=safe_text(statement),
        generic=generic,
        analyzed="Execution Time" in explained,
        total_cost=float(root["Total Cost"]),
        planning_ms=explained.get("Planning Time"),
        execution_ms=explained.get("Execution Time"),
        nodes=nodes,
        large_table_rows=LARGE_TABLE_ROWS,
        estimate_error_factor=ESTIMATE_ERROR_FACTOR,
    )


def explain_generic(connection: Connection, statement: str) -> dict[str, Any]:
    """EXPLAIN's JSON for the generic plan; the caller holds a savepoint it rolls back."""
    statement, parameters = plannable(statement)
    name = f"webapp_plan_{secrets.token_hex(8)}"
    connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    # The statement's own text, as the server normalised it: it carries no values, only $n.
    connection.exec_driver_sql(f"PREPARE {name} AS {_verbatim(statement)}")
    # A prepared statement outlives a rollback, and through PgBouncer in transaction mode the
    # server connection then serves other clients: the EXPLAIN runs in a savepoint of its own, so
    # that when planning fails (``SELECT 1 / 0`` fails only then) the transaction can still
    # DEALLOCATE.
    explaining = connection.begin_nested()
    try:
        arguments = f"({', '.join(['NULL'] * parameters)})" if parameters else ""
        [[explained]] = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE {name}{arguments}").one()
    finally:
        explaining.rollback()
        connection.exec_driver_sql(f"DEALLOCATE {name}")
    return dict(explained)


def _verbatim(statement: str) -> str:
    # exec_driver_sql hands psycopg2 an (empty) parameter mapping, so it reads % as a placeholder:
    # a LIKE pattern's % must reach the server as it was written.
    return statement.replace("%", "%%")


def generic_plan(connection: Connection, statement: str) -> Plan:
    """The generic plan of a stored statement text, in a savepoint rolled back whatever happens."""
    savepoint = connection.begin_nested()
    try:
        return draw(connection, explain_generic(connection, statement), statement, generic=True)
    finally:
        savepoint.rollback()


def analyzed_plan(connection: Connection, statement: str) -> Plan:
    """EXPLAIN ANALYZE of one read-only SELECT, in a read-only savepoint rolled back whatever happens."""
    statement = read_only_select(statement)
    savepoint = connection.begin_nested()
    try:
        connection.execute(text("SET LOCAL transaction_read_only = on"))
        [[explained]] = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {_verbatim(statement)}"
        ).one()
        return draw(connection, dict(explained), statement, generic=False)
    finally:
        savepoint.rollback()
