"""Pub/sub channels are server-wide (a Redis database number does not scope them): the
database is in the channel's name, so installs, or test workers, on different databases
of one Redis server never hear each other's live events."""

import redis

from inbox import events


def test_each_redis_database_has_its_own_channels():
    names = {events.channel(7, db) for db in (0, 1, 5, 10, 50)}
    assert len(names) == 5
    assert events.channel(7) == events.channel(7, 0) == "clinic-inbox:account:7"
    # A listener's pattern matches its own database's channels only ("db5" is not "db50").
    for db in (0, 5, 50):
        mine = events.channel_prefix(db)
        assert [n for n in names if n.startswith(mine)] == [events.channel(7, db)]


def test_the_database_is_read_from_the_client():
    assert events.redis_db(redis.Redis.from_url("redis://127.0.0.1:1/5")) == 5
    assert events.redis_db(redis.Redis.from_url("redis://127.0.0.1:1")) == 0
    assert events.redis_db(redis.Redis.from_url("unix:///tmp/x.sock")) == 0
    assert events.redis_db(redis.Redis.from_url("redis://127.0.0.1:1/5").pipeline()) == 5
