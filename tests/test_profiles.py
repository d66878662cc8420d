"""The profile store on a real SQLite database through SQLAlchemy."""

from __future__ import annotations

import pytest

from recommender.profiles import Change, Entry, ProfileStore


@pytest.fixture
def store(tmp_path) -> ProfileStore:
    return ProfileStore(f"sqlite:///{tmp_path / 'profiles.db'}")


def test_movies_keep_the_order_they_were_named(store):
    for movie_id, rating in [(10, 5.0), (3, None), (7, 2.0)]:
        assert store.save("ann", movie_id, rating).change is Change.ADDED
    assert store.history("ann") == [
        Entry(10, 5.0, 1),
        Entry(3, None, 2),
        Entry(7, 2.0, 3),
    ]


def test_naming_a_movie_again_updates_rating_but_not_order(store):
    store.save("ann", 1, 3.0)
    store.save("ann", 2, 4.0)
    saved = store.save("ann", 1, 5.0)
    assert (saved.change, saved.rating, saved.previous_rating) == (
        Change.UPDATED,
        5.0,
        3.0,
    )
    # A later mention without a feeling keeps the rating.
    assert store.save("ann", 1, None).change is Change.UNCHANGED
    assert store.history("ann") == [Entry(1, 5.0, 1), Entry(2, 4.0, 2)]


def test_profiles_are_per_sender(store):
    store.save("ann", 1, 5.0)
    store.save("bob", 2, 1.0)
    assert [e.movie_id for e in store.history("ann")] == [1]
    assert [e.movie_id for e in store.history("bob")] == [2]
    assert store.history("nobody") == []


def test_profile_survives_a_new_store_on_the_same_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    ProfileStore(url).save("ann", 42, 4.5)
    assert ProfileStore(url).history("ann") == [Entry(42, 4.5, 1)]


def test_forget_deletes_only_that_person(store):
    store.save("ann", 1, 5.0)
    store.save("ann", 2, None)
    store.save("bob", 1, 2.0)
    assert store.forget("ann") == 2
    assert store.history("ann") == []
    assert store.history("bob") == [Entry(1, 2.0, 1)]


def test_sender_ids_that_look_like_sql_are_just_text(store):
    sender = "x'); DROP TABLE watched_movies; --"
    store.save(sender, 1, 3.0)
    store.save("ann", 2, 4.0)
    assert store.history(sender) == [Entry(1, 3.0, 1)]
    assert store.history("ann") == [Entry(2, 4.0, 1)]


@pytest.mark.parametrize("rating", [0.0, 5.5, -1.0])
def test_rating_out_of_range_is_refused(store, rating):
    with pytest.raises(ValueError, match=r"0\.5 to 5"):
        store.save("ann", 1, rating)
    assert store.history("ann") == []


def test_nothing_is_opened_before_first_use(tmp_path):
    path = tmp_path / "sub" / "profiles.db"
    store = ProfileStore(f"sqlite:///{path}")
    assert not path.exists()
    store.history("ann")
    assert path.exists()


def test_remove_takes_out_one_movie_and_keeps_the_order(store):
    for movie_id in (1, 2, 3):
        store.save("ann", movie_id, 4.0)
    assert store.remove("ann", 2) == Entry(2, 4.0, 2)
    assert store.remove("ann", 2) is None
    assert store.remove("bob", 1) is None
    assert store.history("ann") == [Entry(1, 4.0, 1), Entry(3, 4.0, 3)]


def test_replace_puts_the_other_movie_in_the_same_place(store):
    store.save("ann", 1, 3.0)
    store.save("ann", 2, 5.0)
    store.save("ann", 3, None)
    saved = store.replace("ann", 2, 20, 5.0)
    assert (saved.movie_id, saved.change, saved.rating) == (20, Change.ADDED, 5.0)
    assert store.history("ann") == [
        Entry(1, 3.0, 1),
        Entry(20, 5.0, 2),
        Entry(3, None, 3),
    ]


def test_replace_with_a_movie_already_there_keeps_one_of_it(store):
    store.save("ann", 1, 3.0)
    store.save("ann", 2, 5.0)
    store.replace("ann", 2, 1, 4.0)
    assert store.history("ann") == [Entry(1, 4.0, 1)]
