"""The offline store in Chromium with `persist: "indexeddb"`: a copy kept in IndexedDB opens the
workspace while the node is down, an edit made then waits in the persisted outbox, and after the
node is back and the page reloaded (nothing left in memory) it reaches the server exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

from tests.browser.conftest import RestartableNode
from tests.support.api import Api

# Runs in the page: `mode` "online" opens and closes; "offline" opens from the copy and creates a task.
STORE_SCRIPT = """
async ({ token, workspaceId, mode }) => {
  const { TaskroomStore } = await import("/client/taskroom.js");
  const store = new TaskroomStore({ url: location.origin, token, persist: "indexeddb", retry: { floorMs: 50, baseMs: 100, capMs: 400 } });
  const syncs = [];
  store.onSync((report) => syncs.push(report.kind));
  const replica = await store.open(workspaceId);
  if (mode === "offline") {
    await store.createTask(workspaceId, { title: "Made offline" });
    const deadline = Date.now() + 10000;
    while (store.status !== "waiting") {
      if (Date.now() > deadline) throw new Error(`status ${store.status}, not waiting`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  if (mode === "back") {
    const deadline = Date.now() + 15000;
    while (store.pendingCount > 0 || replica.tasks.some((task) => task.pending)) {
      if (Date.now() > deadline) throw new Error(`still ${store.pendingCount} pending`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const seen = { syncs, titles: replica.tasks.map((task) => task.title), pending: store.pendingCount };
  await store.close();
  return seen;
}
"""


def test_an_edit_made_while_the_node_is_down_waits_in_indexeddb_and_is_sent_once_after_a_reload(
    browser: Browser, tmp_path: Path
) -> None:
    node = RestartableNode(f"sqlite:///{tmp_path / 'store.db'}")
    api = Api(node.api)
    try:
        user = api.register("Offline")
        workspace = user.create_workspace()
        user.create_task(workspace["id"], "Known")
        context = browser.new_context()
        page = context.new_page()
        # Any page of the node's origin: the store needs only its module and the origin's IndexedDB.
        page.goto(f"{node.base_url}/client/store.js")
        scene: dict[str, Any] = {"token": user.token, "workspaceId": workspace["id"]}

        online = page.evaluate(STORE_SCRIPT, {**scene, "mode": "online"})
        assert online["syncs"][0] == "snapshot"
        assert online["titles"] == ["Known"]

        node.stop()
        offline = page.evaluate(STORE_SCRIPT, {**scene, "mode": "offline"})
        assert offline["syncs"] == ["copy"]  # and no catch-up: the node is down
        assert offline["titles"] == ["Known", "Made offline"]
        assert offline["pending"] == 1

        node.start()
        page.reload()
        back = page.evaluate(STORE_SCRIPT, {**scene, "mode": "back"})
        assert back["syncs"][0] == "copy"
        assert back["pending"] == 0
        assert back["titles"] == ["Known", "Made offline"]
        tasks = user.get(f"/workspaces/{workspace['id']}/tasks").json()["items"]
        assert [task["title"] for task in tasks] == ["Known", "Made offline"]
        context.close()
    finally:
        api.close()
        node.stop()
