"""Core statements compiled once per dialect and run on the session's DBAPI connection.

SQLAlchemy's execution layer (cache key, execution context, parameter and result objects, greenlet hops) cost
about a third of the CPU of a message; the database calls themselves are cheap. `Statement` keeps the Core
statement as the one source of the SQL: it is compiled once per dialect (and per set of parameter names, like
SQLAlchemy's own compiled cache), and its parameters and rows pass through exactly the type processors
SQLAlchemy would apply (JSON via the engine's orjson serializer, SQLite's DATETIME strings, `AwareDateTime`'s
UTC handling, Boolean ...), so what is stored and read back is the same as through `Connection.execute()`.

`fetch()` runs a statement on the connection of the session's transaction, so it is part of that transaction:
- SQLite (storage/sqlite_driver.py's inline driver): sqlite3 directly, with the driver's busy retries;
- any other driver (asyncpg): the DBAPI cursor of SQLAlchemy's adapted connection, which starts the driver's
  transaction on first use exactly as for a Core statement.
Driver errors become SQLAlchemy's exceptions through the connection's own handler (IntegrityError,
OperationalError, a lost connection invalidated), and `before_cursor_execute` listeners (statement counters)
still see each statement. Python-side column defaults and onupdates (`default=utcnow`, `default=list`) are
filled in as SQLAlchemy does for a statement without RETURNING of them.

`run_savepoints_directly()` makes a dialect's SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT statements
(a group commit's member has one of each: bot/core/group_commit.py) go through `fetch()` as well.

`fetch_each()` runs one statement for several parameter sets (the replies' INSERT ... RETURNING), in one round
trip on asyncpg. Only what the message path needs: no expanding (IN) parameters, no SQL-side defaults.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import ReleaseSavepointClause, RollbackToSavepointClause, SavepointClause
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.crud import REQUIRED
from sqlalchemy.util.concurrency import await_


class Statement:
    """A Core statement run without SQLAlchemy's execution layer; compiled on first use per dialect."""

    def __init__(self, core: ClauseElement) -> None:
        self.core = core
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, ...], Compiled]] = \
            weakref.WeakKeyDictionary()

    def compiled(self, dialect: Dialect, parameters: Iterable[str]) -> Compiled:
        """The statement compiled for `dialect` and these parameter names (an INSERT's or UPDATE's columns)."""
        keys = tuple(sorted(parameters))
        by_keys = self._compiled.get(dialect)
        if by_keys is None:
            by_keys = self._compiled[dialect] = {}
        compiled = by_keys.get(keys)
        if compiled is None:
            compiled = by_keys[keys] = Compiled(self.core.compile(dialect=dialect, column_keys=list(keys)))
        return compiled


class Compiled:
    """One compiled form: the SQL string, how to build its positional parameters, how to convert its rows."""

    __slots__ = ("sql", "_slots", "_row_types", "_dialect", "_row_processors")

    def __init__(self, compiled: SQLCompiler) -> None:
        if compiled.positiontup is None:
            raise NotImplementedError(f"{compiled.dialect.name}: only positional paramstyles are supported")
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise NotImplementedError("expanding or literal-execute parameters are not supported")
        self.sql = compiled.string
        self._dialect = compiled.dialect
        defaults = {column.key: _default(column.default) for column in compiled.insert_prefetch}
        defaults.update({column.key: _default(column.onupdate) for column in compiled.update_prefetch})
        fixed = compiled.construct_params(_check=False)
        processors = compiled._bind_processors
        required = {name for name, bind in compiled.binds.items() if bind.required or fixed.get(name) is REQUIRED}
        self._slots = tuple((name, processors.get(name),
                             defaults.get(name) or _fixed(name, REQUIRED if name in required else fixed.get(name)))
                            for name in compiled.positiontup)
        self._row_types = tuple(column[3] for column in compiled._result_columns)
        self._row_processors: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The DBAPI parameters: the given values, else the statement's own (literals, column defaults)."""
        parameters = []
        for name, processor, otherwise in self._slots:
            value = values[name] if name in values else otherwise()
            parameters.append(value if processor is None else processor(value))
        return parameters

    def rows(self, raw: Sequence[Any], description: Any) -> list[tuple[Any, ...]]:
        """The rows as SQLAlchemy would return them (its result processors, per the cursor's column types)."""
        processors = self._row_processors
        if processors is None:
            coltypes = [entry[1] for entry in description] if description else [None] * len(self._row_types)
            processors = self._row_processors = tuple(
                (index, processor) for index, (type_, coltype) in enumerate(zip(self._row_types, coltypes))
                if (processor := type_._cached_result_processor(self._dialect, coltype)) is not None)
        if not processors:
            return [tuple(row) for row in raw]
        converted = []
        for row in raw:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            converted.append(tuple(values))
        return converted


def fetch(connection: Connection, statement: Statement, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run `statement` with `values` in the connection's transaction; its rows (none for a plain UPDATE)."""
    compiled = statement.compiled(connection.dialect, values)
    dbapi_connection = connection.connection.dbapi_connection
    sql = compiled.sql
    parameters: Any = None
    try:
        parameters = compiled.parameters(values)
        _announce(connection, sql, parameters, False)
        fetch_rows = getattr(dbapi_connection, "fetch_rows", None)  # storage/sqlite_driver.py's connection
        if fetch_rows is not None:
            raw, description = fetch_rows(sql, parameters)
        else:
            cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, parameters)
                description = cursor.description
                raw = cursor.fetchall() if description else []
            finally:
                cursor.close()
        return compiled.rows(raw, description) if raw else []
    except Exception as exc:
        connection._handle_dbapi_exception(exc, sql, parameters, None, None)


def fetch_each(connection: Connection, statement: Statement, values: Sequence[Mapping[str, Any]]
               ) -> list[tuple[Any, ...]]:
    """Run `statement` once for each of `values` (same keys), in order; the rows of all runs. On asyncpg, in one
    round trip (its fetchmany() pipelines the runs) once the transaction has begun and the statement was run
    once (its column types are known); otherwise one run after the other."""
    dbapi_connection = connection.connection.dbapi_connection
    driver = getattr(dbapi_connection, "driver_connection", None)
    compiled = statement.compiled(connection.dialect, values[0]) if values else None
    if (compiled is None or len(values) == 1 or compiled._row_processors is None
            or not hasattr(driver, "fetchmany") or getattr(dbapi_connection, "_transaction", None) is None
            or any(each.keys() != values[0].keys() for each in values)):
        return [row for each in values for row in fetch(connection, statement, each)]
    sql = compiled.sql
    parameters: Any = None
    try:
        parameters = [compiled.parameters(each) for each in values]
        _announce(connection, sql, parameters, True)
        try:
            raw = await_(driver.fetchmany(sql, parameters))  # type: ignore[union-attr]
        except Exception as error:
            dbapi_connection._handle_exception(error)  # type: ignore[union-attr]  # the DBAPI error, as a cursor's
        return compiled.rows(raw, None)
    except Exception as exc:
        connection._handle_dbapi_exception(exc, sql, parameters, None, None)


def run_savepoints_directly(dialect: Dialect) -> None:
    """The dialect's savepoint statements run through fetch() instead of Connection.execute() (same SQL, same
    error handling and listeners; without the execution layer, which cost more than the statement)."""
    statements: dict[tuple[type[ClauseElement], str], Statement] = {}

    def run(clause: type[ClauseElement], connection: Connection, name: str) -> None:
        statement = statements.get((clause, name))
        if statement is None:
            statement = statements[(clause, name)] = Statement(clause(name))  # type: ignore[call-arg]
        fetch(connection, statement, {})

    dialect.do_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: run(SavepointClause, connection, name))
    dialect.do_release_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: run(ReleaseSavepointClause, connection, name))
    dialect.do_rollback_to_savepoint = (  # type: ignore[method-assign]
        lambda connection, name: run(RollbackToSavepointClause, connection, name))


def _announce(connection: Connection, sql: str, parameters: Any, many: bool) -> None:
    """Tell `before_cursor_execute` listeners (statement counters) about a statement, as Connection.execute does."""
    if connection._has_events or connection.engine._has_events:
        connection.dispatch.before_cursor_execute(connection, None, sql, parameters, None, many)


def _default(default: Any) -> Callable[[], Any]:
    """A column's Python-side default or onupdate as a function of no arguments."""
    if default is not None and default.is_scalar:
        value = default.arg
        return lambda: value
    if default is not None and default.is_callable:
        function = default.arg
        return lambda: function(None)  # wrapped by SQLAlchemy to take an execution context; ours use none
    raise NotImplementedError(f"unsupported column default {default!r}")


def _fixed(name: str, value: Any) -> Callable[[], Any]:
    """The statement's own value of a parameter (a literal); a parameter without one must be given."""
    if value is REQUIRED:
        def required() -> Any:
            raise KeyError(f"a value is required for parameter {name!r}")
        return required
    return lambda: value
