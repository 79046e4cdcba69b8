from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.synapse import PEOPLE, Synapse, running_synapse


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """One real Synapse for the whole session, shared by every Matrix test module.

    Its message limit is Synapse's default; every account but ``slowbot`` has it lifted
    through the admin API's ``override_ratelimit``, for the one test about the limit.
    """
    pytest.importorskip("nio", reason="eventbot[matrix] is not installed")
    pytest.importorskip("synapse", reason="matrix-synapse (the test extra) is not installed")
    with running_synapse(tmp_path_factory.mktemp("synapse")) as server:
        bot = server.register("eventbot", displayname="EventBot")
        server.register("slowbot", displayname="SlowBot")  # keeps Synapse's default limit
        for name in PEOPLE:
            server.register(name)
        for account in (bot, *(server.accounts[n] for n in PEOPLE)):
            server.lift_rate_limit(account.user_id)
        yield server
