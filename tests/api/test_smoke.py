from tests.support.api import Api


def test_register_create_workspace_and_task(api: Api) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace("Launch")
    task = alice.create_task(workspace["id"], "Write the plan")
    assert task["workspaceId"] == workspace["id"]
    assert alice.get(f"/tasks/{task['id']}").json() == task
