from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ..schemas import (
    COLUMN_KEY_PATTERN,
    LABEL_MAX_LENGTH,
    MAX_INT64,
    NO_NUL,
    ActivityPage,
    Priority,
    TaskCompleteIn,
    TaskIn,
    TaskList,
    TaskMoveIn,
    TaskOut,
    TaskPatch,
    TrashList,
)
from ..services.activity import DEFAULT_ACTIVITY_LIMIT, MAX_ACTIVITY_LIMIT
from ..services.task_pages import DEFAULT_LIMIT, MAX_CURSOR_CHARS, MAX_LIMIT, TaskFilters
from ..services.trash import DEFAULT_TRASH_LIMIT, MAX_TRASH_LIMIT
from ..timeutil import ensure_utc
from .deps import IdemKey, KnownQuery, PathId, ServicesDep, UserId, reply
from .documents import documents_of
from .responses import READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(tags=["tasks"])

SEARCH_MAX_LENGTH = 200


@router.get(
    "/workspaces/{workspace_id}/tasks",
    summary="List or search tasks",
    response_model=TaskList,
    responses=errors(*READ_IN_WORKSPACE),
    dependencies=[KnownQuery],
)
async def list_tasks(
    workspace_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    status: Annotated[
        str | None,
        Query(description="Only the tasks of this column (a column key)", pattern=COLUMN_KEY_PATTERN),
    ] = None,
    completed: Annotated[bool | None, Query()] = None,
    assignee_id: Annotated[
        str | None,
        Query(
            alias="assigneeId",
            title="Assignee id",
            description="Only the tasks assigned to this user",
            max_length=64,
            pattern=NO_NUL,
        ),
    ] = None,
    priority: Annotated[Priority | None, Query(description="Only the tasks of this priority")] = None,
    label: Annotated[
        str | None,
        Query(
            description="Only the tasks that have this label (exactly, after trimming)",
            min_length=1,
            max_length=LABEL_MAX_LENGTH,
            pattern=NO_NUL,
        ),
    ] = None,
    due_before: Annotated[
        datetime | None,
        Query(alias="dueBefore", description="Only the tasks due strictly before this ISO date-time"),
    ] = None,
    due_after: Annotated[
        datetime | None,
        Query(alias="dueAfter", description="Only the tasks due at or after this ISO date-time"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            description="Words to find in the title or description (whole words, every one); ranks the results best first",
            min_length=1,
            max_length=SEARCH_MAX_LENGTH,
            pattern=NO_NUL,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS)] = None,
) -> dict[str, Any]:
    """A page of tasks in column, then position order; with `q`, the tasks matching its words, best match first (a title match above a description-only one). Filters combine (all must hold); a parameter this route does not take is a 422 naming it. `nextCursor` asks for the next page (null: the last)."""
    filters = TaskFilters(
        status=status,
        completed=completed,
        assignee_id=assignee_id,
        priority=priority,
        label=label.strip() if label is not None else None,
        due_before=_utc(due_before),
        due_after=_utc(due_after),
        q=q,
    )
    page = await services.tasks.list(user_id, workspace_id, filters, limit, cursor)
    return {"items": page.items, "nextCursor": page.next_cursor}


def _utc(value: datetime | None) -> datetime | None:
    # A time without an offset is UTC, as everywhere on the wire. One whose UTC form falls
    # outside years 1 to 9999 (0001-01-01T00:00+01:00) is a bound beyond every stored due date:
    # the nearest representable time filters the same way.
    if value is None:
        return None
    try:
        return ensure_utc(value)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


@router.post(
    "/workspaces/{workspace_id}/tasks",
    summary="Create a task",
    status_code=201,
    response_model=TaskOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def create_task(
    workspace_id: PathId, body: TaskIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Creates a task at the end of its column (`status`, default `todo`). Members receive `TASK_CREATED`."""
    return reply(await services.tasks.create(user_id, workspace_id, body, key))


@router.get(
    "/tasks/{task_id}", summary="Get a task", response_model=TaskOut, responses=errors(*READ_IN_WORKSPACE)
)
async def get_task(task_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """One task of a workspace the caller is a member of."""
    return await services.tasks.get(user_id, task_id)


@router.patch(
    "/tasks/{task_id}",
    summary="Edit a task",
    response_model=TaskOut,
    responses=errors(*WRITE_IN_WORKSPACE, 409),
)
async def update_task(
    request: Request, task_id: PathId, body: TaskPatch, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Changes the fields given. With `baseVersion`, a field someone else changed since that version is a 409 conflict with the current task; without it, the last write wins. The column is changed with `/move`, not here. Members receive `TASK_UPDATED`."""
    result = await services.tasks.update(user_id, task_id, body, key)
    documents = documents_of(request)
    if "description" in body.model_fields_set and not result.replayed and documents is not None:
        # The shared document follows the new description (a replayed answer changes nothing now).
        await documents.replace_description(task_id, json.loads(result.body)["description"])
    return reply(result)


@router.post(
    "/tasks/{task_id}/complete",
    summary="Complete or reopen a task",
    response_model=TaskOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def complete_task(
    task_id: PathId, body: TaskCompleteIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Sets `completed`; members receive `TASK_COMPLETED` either way (`task.completed` says which)."""
    return reply(await services.tasks.complete(user_id, task_id, body, key))


@router.post(
    "/tasks/{task_id}/move",
    summary="Move a task",
    response_model=TaskOut,
    responses=errors(*WRITE_IN_WORKSPACE, 409),
)
async def move_task(
    task_id: PathId, body: TaskMoveIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Moves a task to a column (`status`) and between two neighbours (`beforeId`, `afterId`; neither: the end of the column). Members receive `TASK_MOVED` with where it came from and went."""
    return reply(await services.tasks.move(user_id, task_id, body, key))


@router.delete(
    "/tasks/{task_id}",
    summary="Move a task to the trash",
    status_code=204,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def delete_task(task_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey) -> Response:
    """Moves the task to the trash: it leaves the board and answers 404 to everything but `/restore` until it is restored, or deleted for good after `TRASH_RETENTION_DAYS`. Members receive `TASK_DELETED`."""
    return reply(await services.tasks.delete(user_id, task_id, key))


@router.get(
    "/workspaces/{workspace_id}/trash",
    summary="List the trash",
    response_model=TrashList,
    responses=errors(*READ_IN_WORKSPACE),
)
async def list_trash(
    workspace_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_TRASH_LIMIT)] = DEFAULT_TRASH_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS)] = None,
) -> dict[str, Any]:
    """The workspace's deleted tasks, the latest deleted first, each with `deletedAt` and `deletedBy`; `nextCursor` asks for the next page (null: the last)."""
    page = await services.tasks.trash(user_id, workspace_id, limit, cursor)
    return {"items": page.items, "nextCursor": page.next_cursor}


@router.post(
    "/tasks/{task_id}/restore",
    summary="Restore a task from the trash",
    response_model=TaskOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def restore_task(task_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey) -> Response:
    """Brings a trashed task back to its column, at its old place when no task has taken its position since (else at the end of the column), with its shared description. 404 for a task that is not in the trash. Members receive `TASK_RESTORED`."""
    return reply(await services.tasks.restore(user_id, task_id, key))


@router.get(
    "/tasks/{task_id}/activity",
    summary="A task's activity",
    response_model=ActivityPage,
    responses=errors(*READ_IN_WORKSPACE),
)
async def task_activity(
    task_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_INT64, description="Only events with a smaller seq (the next page)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ACTIVITY_LIMIT)] = DEFAULT_ACTIVITY_LIMIT,
) -> dict[str, Any]:
    """The task's events from the workspace log, newest first, each with the fields it changed as `{field: {from, to}}`. The next page is `before` the last item's `seq`; events pruned by retention are not listed."""
    page = await services.activity.read(user_id, task_id, before, limit)
    return {"items": page.items, "hasMore": page.has_more}
