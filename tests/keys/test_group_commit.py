"""keys/auditchain/group.py across a fork: a process forked while a parent thread was writing a
batch (gunicorn builds the app in its master, then forks workers) commits on its own."""

from __future__ import annotations

import multiprocessing
import threading

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text

from keys.auditchain.group import GroupCommit

rows = Table("group_rows", MetaData(), Column("n", Integer, primary_key=True))


def _child(group: GroupCommit, done) -> None:
    group.commit(lambda conn: conn.execute(text("SELECT 1")), [(rows, [{"n": 2}])])
    done.set()


def test_a_child_forked_mid_batch_commits_without_the_parents_writer(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'group.db'}")
    rows.metadata.create_all(engine)
    group = GroupCommit(engine)
    inside, release = threading.Event(), threading.Event()

    def slow_link(conn):  # touches no table: the database itself stays free for the child
        inside.set()
        release.wait(30)

    writer = threading.Thread(target=group.commit, args=(slow_link,))
    writer.start()
    assert inside.wait(10)  # the parent's batch is being written: its writer flag is up
    context = multiprocessing.get_context("fork")
    done = context.Event()
    child = context.Process(target=_child, args=(group, done))
    child.start()
    try:
        # The child has no writer thread: it must not wait for the parent's flag to go down.
        assert done.wait(20), "the forked child waited on the parent's batch"
        child.join(10)
        assert child.exitcode == 0
    finally:
        release.set()
        writer.join(10)
        if child.is_alive():
            child.kill()
    with engine.connect() as conn:
        assert sorted(conn.execute(select(rows.c.n)).scalars()) == [2]
