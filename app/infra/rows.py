"""Rows inserted by the driver (issue 16): the INSERT of a mapped object built from its table, not hand-written.

`placeOrder` spends most of its CPU in our process, and SQLAlchemy's unit of work is a large part of it (the flush of
an order and its lines: ~1.5 ms). `RowWriter(Model)` derives the column list from `Model.__table__.columns` once
(so a column another change adds is written too), and turns a transient ORM object into the parameters of a
driver-level INSERT: the attributes set on the object, else the column's Python-side default (scalar or callable,
as the ORM would apply it), else nothing (the server default, or NULL). Values go through the same bind processors
SQLAlchemy would use on this dialect (enums to their values, JSONB to text, ...), and the row comes back whole
(RETURNING every column, through the result processors), so the object can be made persistent in the session
without a flush (`adopt`): later changes to it are flushed by the ORM as usual.

A table whose defaults this cannot reproduce (a SQL-expression default, a sequence default without a server
default) makes `RowWriter.usable` False; callers then use the ORM (same result, slower).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Float, Numeric, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.session import make_transient_to_detached

_OMIT = object()


class RowWriter:
    """INSERT ... RETURNING for one mapped class, its columns from the table (built once per dialect)."""

    def __init__(self, model: type, dialect: Dialect) -> None:
        mapper: Any = inspect(model)
        table = mapper.local_table
        quote = dialect.identifier_preparer.quote
        self.table_name = quote(table.name)
        self.usable = True
        # (attribute key, column name quoted, default producer or None, bind processor)
        self.columns: list[tuple[str, str, Callable[[], Any] | None, Any]] = []
        self.returned: list[tuple[str, Any]] = []  # every column: (attribute key, result processor)
        for column in table.columns:
            key = mapper.get_property_by_column(column).key
            self.returned.append((key, self._result_processor(column, dialect)))
            if column.computed is not None:
                continue
            default = column.default
            producer: Callable[[], Any] | None = None
            if default is not None:
                if getattr(default, "is_sequence", False) or getattr(default, "is_clause_element", False):
                    if column.server_default is None:
                        self.usable = False  # the ORM renders it in SQL: not reproduced here
                    default = None  # the server default applies (e.g. nextval of the same sequence)
                elif default.is_callable:
                    function = default.arg
                    producer = lambda function=function: function(None)  # noqa: E731 (SQLAlchemy wraps zero-argument callables)
                elif default.is_scalar:
                    value = default.arg
                    producer = lambda value=value: value  # noqa: E731
                else:
                    self.usable = False
            self.columns.append((key, quote(column.name), producer, column.type._cached_bind_processor(dialect)))
        self.returning = ", ".join(quote(column.name) for column in table.columns)
        self.new: Callable[[], Any] = mapper.class_manager.new_instance
        self.position = {key: index for index, (key, _) in enumerate(self.returned)}  # attribute key -> column index
        self._insert_heads: dict[tuple[str, ...], str] = {}

    def _result_processor(self, column: Any, dialect: Dialect) -> Any:
        """What SQLAlchemy would apply to this column's value as the driver returns it (asyncpg decodes numerics,
        dates, uuids itself: None for those)."""
        try:
            return column.type._cached_result_processor(dialect, None)
        except Exception:  # the processor wants the column's type oid (asyncpg's numeric: none needed for NUMERIC)
            if isinstance(column.type, Numeric):
                return column.type._cached_result_processor(dialect, 1700 if not isinstance(column.type, Float) else 701)
            self.usable = False
            return None

    def values(self, obj: Any) -> tuple[tuple[str, ...], list[Any]]:
        """The columns this object's INSERT names and their bound values (processed for the driver)."""
        state = obj.__dict__
        keys: list[str] = []
        values: list[Any] = []
        for key, name, producer, process in self.columns:
            if key in state:
                value = state[key]
            elif producer is not None:
                value = producer()  # adopt() sets it on the object with the rest of the row
            else:
                continue
            keys.append(name)
            values.append(process(value) if process is not None else value)  # None too: JSONB's None is JSON null, as the ORM binds it
        return tuple(keys), values

    def insert_head(self, names: tuple[str, ...]) -> str:
        head = self._insert_heads.get(names)
        if head is None:
            head = self._insert_heads[names] = f"INSERT INTO {self.table_name} ({', '.join(names)}) VALUES "
        return head

    def instance(self, row: Sequence[Any]) -> Any:
        """A detached object of the class from a row of every column (in table order): as the ORM would load it, but
        in no session (nothing flushes it; it has every column, so nothing lazy-loads)."""
        obj = self.new()
        self.load(obj, row)
        return obj

    def load(self, obj: Any, row: Sequence[Any]) -> None:
        """Every column's value into the (transient) object's dict, then made detached: `make_transient_to_detached`
        commits the dict's values as loaded (no history), as a query's load would."""
        state = obj.__dict__
        for index, (key, process) in enumerate(self.returned):
            value = row[index]
            state[key] = process(value) if process is not None else value
        make_transient_to_detached(obj)

    def adopt(self, session: Session | AsyncSession, obj: Any, row: Any) -> None:
        """Set every column of the inserted row on `obj` and make it persistent in `session` (no flush, no INSERT)."""
        self.load(obj, row)
        session.add(obj)


def placeholders(start: int, count: int) -> str:
    """'($start, $start+1, ...)': one VALUES row of `count` numbered parameters."""
    return "(" + ", ".join(f"${i}" for i in range(start, start + count)) + ")"


def multi_row(writer: RowWriter, objects: Sequence[Any], start: int) -> tuple[str, list[Any]] | None:
    """One INSERT of several objects of one class (all naming the same columns), parameters numbered from `start`;
    None when they do not name the same columns."""
    rows = [writer.values(obj) for obj in objects]
    names = rows[0][0]
    if any(row[0] != names for row in rows):
        return None
    sql = writer.insert_head(names) + ", ".join(placeholders(start + i * len(names), len(names)) for i in range(len(rows)))
    return sql, [value for _, values in rows for value in values]


_ATTRIBUTES: dict[type, tuple[Callable[[], Any], frozenset[str]]] = {}
M = TypeVar("M")


def construct(model: type[M], **values: Any) -> M:
    """`model(**values)` for a new (transient) object, without the declarative constructor's attribute events (issue
    16, session 8: an Order's ~30 attribute sets and the three lines' were ~8% of the placement's unit of work): the
    object's dict holds exactly these values, as after the constructor, and only the change history a transient
    object keeps is not there. Nothing reads it: an INSERT takes the object's dict (`RowWriter.values`, and the ORM's
    flush of a pending object alike), and `adopt` / a flush commit the dict as loaded. Later changes to the object go
    through the attributes as usual. Column attributes only (a relationship set here would skip its backref): another
    name raises TypeError, as the constructor does for an unknown one."""
    found = _ATTRIBUTES.get(model)
    if found is None:
        mapper: Any = inspect(model)
        found = _ATTRIBUTES[model] = (mapper.class_manager.new_instance, frozenset(mapper.column_attrs.keys()))
    new, known = found
    if not known.issuperset(values):
        raise TypeError(f"{sorted(set(values) - known)!r} are not attributes of {model.__name__}")
    obj = new()
    obj.__dict__.update(values)
    return cast(M, obj)


_WRITERS: dict[tuple[type, int], RowWriter] = {}


def writer_for(model: type, dialect: Dialect) -> RowWriter:
    found = _WRITERS.get((model, id(dialect)))
    if found is None:
        found = _WRITERS[(model, id(dialect))] = RowWriter(model, dialect)
    return found
