"""Each person's watched movies, ratings and their order, kept in a database.

SQLite by default, any SQLAlchemy URL (PostgreSQL, say) through ``DATABASE_URL``.
A person is known by the sender id their channel gives; the order in which they
named their movies is the sequence the next-movie model reads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = Path(__file__).resolve().parents[1] / "var" / "moviebot.db"


def database_url() -> str:
    """``DATABASE_URL`` when set, else a SQLite file under ``var/``."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_DATABASE}"


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Person(Base):
    __tablename__ = "people"

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class WatchedMovie(Base):
    __tablename__ = "watched_movies"
    __table_args__ = (UniqueConstraint("sender_id", "movie_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(
        ForeignKey("people.sender_id", ondelete="CASCADE"), index=True
    )
    movie_id: Mapped[int] = mapped_column(Integer)
    rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    position: Mapped[int] = mapped_column(Integer)  # order in which it was named
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )


class Change(str, Enum):
    ADDED = "added"
    UPDATED = "updated"  # already there, with another rating now
    UNCHANGED = "unchanged"  # already there, nothing new said


@dataclass(frozen=True)
class Entry:
    movie_id: int
    rating: float | None
    position: int


@dataclass(frozen=True)
class Saved:
    movie_id: int
    change: Change
    rating: float | None
    previous_rating: float | None = None


class ProfileStore:
    """Reads and writes profiles; one instance per process, safe across threads."""

    def __init__(self, url: str | None = None):
        self.url = url or database_url()
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        # Opened on first use, so that importing the actions opens no database.
        if self._engine is None:
            if self.url.startswith("sqlite:///"):
                Path(self.url.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            engine = create_engine(self.url, pool_pre_ping=True)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(engine)
            logger.info("profile store at %s", engine.url.render_as_string())
            self._engine = engine
        return self._engine

    def save(self, sender_id: str, movie_id: int, rating: float | None) -> Saved:
        """Add a watched movie, or update its rating when it is already there.

        A movie named again keeps its place in the order: the person watched it
        when they first said so. A later mention without a feeling keeps the
        rating given before.
        """
        if rating is not None and not 0.5 <= rating <= 5.0:
            raise ValueError(f"a rating is 0.5 to 5 stars, got {rating}")
        with Session(self.engine) as session, session.begin():
            if session.get(Person, sender_id) is None:
                session.add(Person(sender_id=sender_id))
                session.flush()
            row = session.scalar(
                select(WatchedMovie).where(
                    WatchedMovie.sender_id == sender_id,
                    WatchedMovie.movie_id == movie_id,
                )
            )
            if row is None:
                last = session.scalar(
                    select(func.max(WatchedMovie.position)).where(
                        WatchedMovie.sender_id == sender_id
                    )
                )
                session.add(
                    WatchedMovie(
                        sender_id=sender_id,
                        movie_id=movie_id,
                        rating=rating,
                        position=(last or 0) + 1,
                    )
                )
                return Saved(movie_id, Change.ADDED, rating)
            if rating is None or rating == row.rating:
                return Saved(movie_id, Change.UNCHANGED, row.rating, row.rating)
            previous, row.rating = row.rating, rating
            return Saved(movie_id, Change.UPDATED, rating, previous)

    def history(self, sender_id: str) -> list[Entry]:
        """The person's movies in the order they named them."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(WatchedMovie)
                .where(WatchedMovie.sender_id == sender_id)
                .order_by(WatchedMovie.position)
            )
            return [Entry(r.movie_id, r.rating, r.position) for r in rows]

    def remove(self, sender_id: str, movie_id: int) -> Entry | None:
        """Take one movie out of the profile; returns it, or None if it was absent."""
        with Session(self.engine) as session, session.begin():
            row = self._row(session, sender_id, movie_id)
            if row is None:
                return None
            removed = Entry(row.movie_id, row.rating, row.position)
            session.delete(row)
        logger.info("removed movie %d for sender %s", movie_id, sender_id)
        return removed

    def replace(
        self, sender_id: str, old_id: int, new_id: int, rating: float | None
    ) -> Saved:
        """Put ``new_id`` where ``old_id`` was, as when the wrong one of two
        same-named movies was taken; the order of the profile is kept."""
        if rating is not None and not 0.5 <= rating <= 5.0:
            raise ValueError(f"a rating is 0.5 to 5 stars, got {rating}")
        with Session(self.engine) as session, session.begin():
            old = self._row(session, sender_id, old_id)
            if old is not None and self._row(session, sender_id, new_id) is None:
                old.movie_id, old.rating = new_id, rating
                return Saved(new_id, Change.ADDED, rating)
            if old is not None:
                session.delete(old)
        # Nothing to put it in place of, or already in the profile: save it there.
        return self.save(sender_id, new_id, rating)

    @staticmethod
    def _row(session: Session, sender_id: str, movie_id: int) -> WatchedMovie | None:
        return session.scalar(
            select(WatchedMovie).where(
                WatchedMovie.sender_id == sender_id,
                WatchedMovie.movie_id == movie_id,
            )
        )

    def forget(self, sender_id: str) -> int:
        """Delete the person and their movies; returns how many movies went."""
        with Session(self.engine) as session, session.begin():
            removed = session.execute(
                delete(WatchedMovie).where(WatchedMovie.sender_id == sender_id)
            ).rowcount
            session.execute(delete(Person).where(Person.sender_id == sender_id))
        logger.info("forgot sender %s (%d movies)", sender_id, removed)
        return removed


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets the chat read while another request writes; foreign keys are off
    # in SQLite unless asked for.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
