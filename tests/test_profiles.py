"""The profile store on a real SQLite database through SQLAlchemy."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, inspect

from recommender.profiles import Change, Entry, Person, ProfileStore

ANN = Person("ann", "rest")
BOB = Person("bob", "rest")


@pytest.fixture
def store(tmp_path) -> ProfileStore:
    return ProfileStore(f"sqlite:///{tmp_path / 'profiles.db'}")


def test_movies_keep_the_order_they_were_named(store):
    for movie_id, rating in [(10, 5.0), (3, None), (7, 2.0)]:
        assert store.save(ANN, movie_id, rating).change is Change.ADDED
    assert store.history(ANN) == [
        Entry(10, 5.0, 1),
        Entry(3, None, 2),
        Entry(7, 2.0, 3),
    ]


def test_naming_a_movie_again_updates_rating_but_not_order(store):
    store.save(ANN, 1, 3.0)
    store.save(ANN, 2, 4.0)
    saved = store.save(ANN, 1, 5.0)
    assert (saved.change, saved.rating, saved.previous_rating) == (
        Change.UPDATED,
        5.0,
        3.0,
    )
    # A later mention without a feeling keeps the rating.
    assert store.save(ANN, 1, None).change is Change.UNCHANGED
    assert store.history(ANN) == [Entry(1, 5.0, 1), Entry(2, 4.0, 2)]


def test_profiles_are_per_sender(store):
    store.save(ANN, 1, 5.0)
    store.save(BOB, 2, 1.0)
    assert [e.movie_id for e in store.history(ANN)] == [1]
    assert [e.movie_id for e in store.history(BOB)] == [2]
    assert store.history(Person("nobody", "rest")) == []


def test_profile_survives_a_new_store_on_the_same_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    ProfileStore(url).save(ANN, 42, 4.5)
    assert ProfileStore(url).history(ANN) == [Entry(42, 4.5, 1)]


def test_forget_deletes_only_that_person(store):
    store.save(ANN, 1, 5.0)
    store.save(ANN, 2, None)
    store.save(BOB, 1, 2.0)
    assert store.forget(ANN) == 2
    assert store.history(ANN) == []
    assert store.history(BOB) == [Entry(1, 2.0, 1)]


def test_sender_ids_that_look_like_sql_are_just_text(store):
    sender = Person("x'); DROP TABLE profile_movies; --", "rest")
    store.save(sender, 1, 3.0)
    store.save(ANN, 2, 4.0)
    assert store.history(sender) == [Entry(1, 3.0, 1)]
    assert store.history(ANN) == [Entry(2, 4.0, 1)]


@pytest.mark.parametrize("rating", [0.0, 5.5, -1.0])
def test_rating_out_of_range_is_refused(store, rating):
    with pytest.raises(ValueError, match=r"0\.5 to 5"):
        store.save(ANN, 1, rating)
    assert store.history(ANN) == []


def test_nothing_is_opened_before_first_use(tmp_path):
    path = tmp_path / "sub" / "profiles.db"
    store = ProfileStore(f"sqlite:///{path}")
    assert not path.exists()
    store.history(ANN)
    assert path.exists()


def test_remove_takes_out_one_movie_and_keeps_the_order(store):
    for movie_id in (1, 2, 3):
        store.save(ANN, movie_id, 4.0)
    assert store.remove(ANN, 2) == Entry(2, 4.0, 2)
    assert store.remove(ANN, 2) is None
    assert store.remove(BOB, 1) is None
    assert store.history(ANN) == [Entry(1, 4.0, 1), Entry(3, 4.0, 3)]


def test_replace_puts_the_other_movie_in_the_same_place(store):
    store.save(ANN, 1, 3.0)
    store.save(ANN, 2, 5.0)
    store.save(ANN, 3, None)
    saved = store.replace(ANN, 2, 20, 5.0)
    assert (saved.movie_id, saved.change, saved.rating) == (20, Change.ADDED, 5.0)
    assert store.history(ANN) == [
        Entry(1, 3.0, 1),
        Entry(20, 5.0, 2),
        Entry(3, None, 3),
    ]


def test_replace_with_a_movie_already_there_keeps_one_of_it(store):
    store.save(ANN, 1, 3.0)
    store.save(ANN, 2, 5.0)
    store.replace(ANN, 2, 1, 4.0)
    assert store.history(ANN) == [Entry(1, 4.0, 1)]


def test_one_sender_id_on_two_channels_is_two_profiles(store):
    in_terminal, over_slack = Person("U42", "terminal"), Person("U42", "slack")
    store.save(in_terminal, 1, 5.0)
    store.save(over_slack, 1, 2.0)
    store.save(over_slack, 2, None)
    assert store.history(in_terminal) == [Entry(1, 5.0, 1)]
    assert store.history(over_slack) == [Entry(1, 2.0, 1), Entry(2, None, 2)]

    # Forgetting is per channel too: the other profile stays whole.
    assert store.forget(over_slack) == 2
    assert store.history(over_slack) == []
    assert store.history(in_terminal) == [Entry(1, 5.0, 1)]
    assert store.remove(over_slack, 1) is None
    assert store.history(in_terminal) == [Entry(1, 5.0, 1)]


def test_a_person_without_a_channel_is_refused():
    with pytest.raises(ValueError, match="needs the channel"):
        Person("ann", "")


# The tables as the store created them before profiles were per channel.
SINGLE_CHANNEL_SCHEMA = """
CREATE TABLE people (
    sender_id VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (sender_id)
);
CREATE TABLE watched_movies (
    id INTEGER NOT NULL,
    sender_id VARCHAR(255) NOT NULL,
    movie_id INTEGER NOT NULL,
    rating FLOAT,
    position INTEGER NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (sender_id, movie_id),
    FOREIGN KEY(sender_id) REFERENCES people (sender_id) ON DELETE CASCADE
);
CREATE INDEX ix_watched_movies_sender_id ON watched_movies (sender_id);
INSERT INTO people VALUES ('ann', '2026-01-02 10:00:00'), ('bob', '2026-01-02 11:00');
INSERT INTO watched_movies VALUES
    (1, 'ann', 10, 5.0, 1, '2026-01-02 10:00:00'),
    (2, 'ann', 3, NULL, 2, '2026-01-02 10:01:00'),
    (3, 'bob', 10, 1.0, 1, '2026-01-02 11:00:00');
"""


def test_a_database_from_before_channels_keeps_every_profile(tmp_path):
    path = tmp_path / "profiles.db"
    with sqlite3.connect(path) as old:
        old.executescript(SINGLE_CHANNEL_SCHEMA)
    old.close()

    store = ProfileStore(f"sqlite:///{path}")
    # The first channel a sender id writes from takes its profile over, whole and
    # in order; the same sender id elsewhere starts afresh.
    ann_in_terminal = Person("ann", "terminal")
    assert store.history(ann_in_terminal) == [Entry(10, 5.0, 1), Entry(3, None, 2)]
    assert store.history(Person("ann", "rest")) == []
    assert store.save(ann_in_terminal, 7, 4.0).change is Change.ADDED
    assert [e.movie_id for e in store.history(ann_in_terminal)] == [10, 3, 7]
    # Forgetting someone who never came back deletes what was kept before.
    assert store.forget(Person("bob", "slack")) == 1
    assert store.history(Person("bob", "rest")) == []

    tables = set(inspect(create_engine(f"sqlite:///{path}")).get_table_names())
    assert {"people", "watched_movies"}.isdisjoint(tables)
    # A second start finds nothing left to move, and nothing lost.
    again = ProfileStore(f"sqlite:///{path}")
    assert [e.movie_id for e in again.history(ann_in_terminal)] == [10, 3, 7]
