from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.ws import WsClient


def test_task_created_reaches_member_connection(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        auth = ws.authenticate(alice.token)
        assert auth["workspaces"] == [{"id": workspace["id"], "seq": 0}]
        ws.recv_type("PRESENCE_STATE")
        task = alice.create_task(workspace["id"], "Ship it")
        event = ws.recv_events(1)[0]
        assert event["type"] == "TASK_CREATED"
        assert event["seq"] == 1
        assert event["data"]["task"] == task
