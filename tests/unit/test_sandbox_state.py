"""The sandbox saves its state from request threads and receipt threads at once; a save
must never fail because another one is running (it answered 500 to an inbound text)."""

import threading

from inbox.sandbox import SandboxState


def test_concurrent_saves_never_fail(tmp_path):
    state = SandboxState(path=tmp_path / "sandbox.json")
    errors: list[Exception] = []

    def save_many():
        for i in range(200):
            try:
                with state.lock:
                    state.messages.append({"id": i})
                state.save()
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    threads = [threading.Thread(target=save_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (tmp_path / "sandbox.json").read_text().startswith("{")


def test_settle_waits_for_every_receipt_on_its_way():
    """Tests wait for the last test's receipts before emptying the tables: a receipt for
    text 1 landing after the wipe settled the next test's text 1 (ids start again)."""
    state = SandboxState()
    assert state.settle(timeout=0)
    state.receipt_sent()
    state.receipt_sent()
    assert not state.settle(timeout=0.05)
    threading.Timer(0.05, state.receipt_done).start()
    threading.Timer(0.10, state.receipt_done).start()
    assert state.settle(timeout=5)
