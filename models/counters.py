from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Counter(Base):
    """A named counter advanced under a row lock in the caller's transaction.

    Unlike a sequence it never skips a value on rollback: gapless numbering
    (event cursors, invoice numbers per series) is built on it.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
