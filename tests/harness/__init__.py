"""Real components for the test suite: a Redis server, Celery workers and a
website, each started on a free loopback port and stopped after."""
