"""The signature is the one the reference library computes; back-off waits stay under their ceiling."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from taskroom.services.webhooks.backoff import retry_delay
from taskroom.services.webhooks.signing import new_secret, secret_key, signature_headers


def test_signatures_verify_with_the_reference_library() -> None:
    secret = new_secret()
    body = b'{"type":"TASK_CREATED","seq":1}'
    now = int(datetime.now(UTC).timestamp())
    headers = signature_headers(secret, "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "TASK_CREATED", "seq": 1}
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert headers["webhook-signature"] == reference


def test_a_generated_secret_holds_32_bytes_and_bad_ones_are_refused() -> None:
    assert len(secret_key(new_secret())) == 32
    for bad in ("whsec_", "whsec_!!!!", "abc", "whsec_" + "QUJD" * 30):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_each_wait_is_drawn_below_a_doubling_capped_ceiling() -> None:
    rng = random.Random(7)
    for failures, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0), (100, 60.0)):
        waits = [retry_delay(failures, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # spread over the range, not pinned to one value
