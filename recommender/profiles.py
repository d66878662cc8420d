"""Each person's watched movies, ratings and their order, kept in a database.

SQLite by default, any SQLAlchemy URL (PostgreSQL, say) through ``DATABASE_URL``.
A person is a sender id on a channel: "ann" in the terminal and "ann" over REST
are two people with two profiles, as sender ids of different channels are not
the same person. The order in which they named their movies is the sequence the
next-movie model reads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = Path(__file__).resolve().parents[1] / "var" / "moviebot.db"
# Profiles kept before they were per channel carry no channel: the first channel
# their sender id writes from takes them over (see ``ProfileStore._take_over``).
NO_CHANNEL = ""


def database_url() -> str:
    """``DATABASE_URL`` when set, else a SQLite file under ``var/``."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_DATABASE}"


@dataclass(frozen=True)
class Person:
    """Whose profile: the sender id a channel gives, and that channel's name."""

    sender_id: str
    channel: str

    def __post_init__(self):
        if not self.channel:
            raise ValueError(
                f"a profile needs the channel its sender id comes from, got "
                f"{self.channel!r} for sender {self.sender_id!r}"
            )

    def __str__(self) -> str:
        return f"{self.sender_id} ({self.channel})"


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Profile(Base):
    __tablename__ = "profiles"

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class WatchedMovie(Base):
    __tablename__ = "profile_movies"
    __table_args__ = (
        ForeignKeyConstraint(
            ["sender_id", "channel"],
            ["profiles.sender_id", "profiles.channel"],
            ondelete="CASCADE",
        ),
        # Also the index that finds a person's movies.
        UniqueConstraint("sender_id", "channel", "movie_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(64))
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
        # Whether profiles from before channels may still wait to be taken over.
        self._unclaimed = False

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
            with engine.begin() as connection:
                Base.metadata.create_all(connection)
                _migrate_single_channel_tables(connection)
                self._unclaimed = (
                    connection.scalar(
                        select(func.count())
                        .select_from(Profile)
                        .where(Profile.channel == NO_CHANNEL)
                    )
                    > 0
                )
            logger.info("profile store at %s", engine.url.render_as_string())
            self._engine = engine
        return self._engine

    def save(self, person: Person, movie_id: int, rating: float | None) -> Saved:
        """Add a watched movie, or update its rating when it is already there.

        A movie named again keeps its place in the order: the person watched it
        when they first said so. A later mention without a feeling keeps the
        rating given before.
        """
        if rating is not None and not 0.5 <= rating <= 5.0:
            raise ValueError(f"a rating is 0.5 to 5 stars, got {rating}")
        with self._session() as session:
            self._take_over(session, person)
            if session.get(Profile, (person.sender_id, person.channel)) is None:
                session.add(Profile(sender_id=person.sender_id, channel=person.channel))
                session.flush()
            row = self._row(session, person, movie_id)
            if row is None:
                last = session.scalar(
                    select(func.max(WatchedMovie.position)).where(_owned_by(person))
                )
                session.add(
                    WatchedMovie(
                        sender_id=person.sender_id,
                        channel=person.channel,
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

    def history(self, person: Person) -> list[Entry]:
        """The person's movies in the order they named them."""
        with self._session() as session:
            self._take_over(session, person)
            rows = session.scalars(
                select(WatchedMovie)
                .where(_owned_by(person))
                .order_by(WatchedMovie.position)
            )
            return [Entry(r.movie_id, r.rating, r.position) for r in rows]

    def remove(self, person: Person, movie_id: int) -> Entry | None:
        """Take one movie out of the profile; returns it, or None if it was absent."""
        with self._session() as session:
            self._take_over(session, person)
            row = self._row(session, person, movie_id)
            if row is None:
                return None
            removed = Entry(row.movie_id, row.rating, row.position)
            session.delete(row)
        logger.info("removed movie %d for %s", movie_id, person)
        return removed

    def replace(
        self, person: Person, old_id: int, new_id: int, rating: float | None
    ) -> Saved:
        """Put ``new_id`` where ``old_id`` was, as when the wrong one of two
        same-named movies was taken; the order of the profile is kept."""
        if rating is not None and not 0.5 <= rating <= 5.0:
            raise ValueError(f"a rating is 0.5 to 5 stars, got {rating}")
        with self._session() as session:
            self._take_over(session, person)
            old = self._row(session, person, old_id)
            if old is not None and self._row(session, person, new_id) is None:
                old.movie_id, old.rating = new_id, rating
                return Saved(new_id, Change.ADDED, rating)
            if old is not None:
                session.delete(old)
        # Nothing to put it in place of, or already in the profile: save it there.
        return self.save(person, new_id, rating)

    def forget(self, person: Person) -> int:
        """Delete the person and their movies; returns how many movies went.

        Their profile on other channels, under the same sender id, stays.
        """
        with self._session() as session:
            self._take_over(session, person)
            removed = session.execute(delete(WatchedMovie).where(_owned_by(person)))
            session.execute(
                delete(Profile).where(
                    Profile.sender_id == person.sender_id,
                    Profile.channel == person.channel,
                )
            )
        logger.info("forgot %s (%d movies)", person, removed.rowcount)
        return removed.rowcount

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on error."""
        with Session(self.engine) as session, session.begin():
            yield session

    def _take_over(self, session: Session, person: Person) -> None:
        """Give ``person`` the profile their sender id had before profiles were
        per channel, unless they have one on this channel already."""
        if not self._unclaimed:
            return
        old = session.get(Profile, (person.sender_id, NO_CHANNEL))
        if old is None or session.get(Profile, (person.sender_id, person.channel)):
            return
        session.add(
            Profile(
                sender_id=person.sender_id,
                channel=person.channel,
                created_at=old.created_at,
            )
        )
        session.flush()
        session.execute(
            update(WatchedMovie)
            .where(
                WatchedMovie.sender_id == person.sender_id,
                WatchedMovie.channel == NO_CHANNEL,
            )
            .values(channel=person.channel)
        )
        session.delete(old)
        session.flush()
        logger.info(
            "the profile kept for sender %s before channels is now %s's",
            person.sender_id,
            person,
        )

    @staticmethod
    def _row(session: Session, person: Person, movie_id: int) -> WatchedMovie | None:
        return session.scalar(
            select(WatchedMovie).where(
                _owned_by(person), WatchedMovie.movie_id == movie_id
            )
        )


def _owned_by(person: Person):
    return (WatchedMovie.sender_id == person.sender_id) & (
        WatchedMovie.channel == person.channel
    )


def _migrate_single_channel_tables(connection: Connection) -> None:
    """Move profiles from the tables kept before profiles were per channel
    (``people``, ``watched_movies``, keyed by sender id alone) into the new ones,
    with no channel, then drop the old tables."""
    tables = set(inspect(connection).get_table_names())
    if not {"people", "watched_movies"} <= tables:
        return
    people = connection.execute(
        text(
            "INSERT INTO profiles (sender_id, channel, created_at) "
            "SELECT sender_id, :channel, created_at FROM people"
        ),
        {"channel": NO_CHANNEL},
    ).rowcount
    movies = connection.execute(
        text(
            "INSERT INTO profile_movies "
            "(sender_id, channel, movie_id, rating, position, updated_at) "
            "SELECT sender_id, :channel, movie_id, rating, position, updated_at "
            "FROM watched_movies"
        ),
        {"channel": NO_CHANNEL},
    ).rowcount
    connection.execute(text("DROP TABLE watched_movies"))
    connection.execute(text("DROP TABLE people"))
    logger.warning(
        "moved %d profiles (%d movies) kept before profiles were per channel into "
        "the profiles table; each goes to the first channel its sender id writes from",
        people,
        movies,
    )


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets the chat read while another request writes; foreign keys are off
    # in SQLite unless asked for.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
