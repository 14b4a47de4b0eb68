"""Comments on a task (PROTOCOL §7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ..schemas import CommentIn, CommentList, CommentOut
from ..services.comments import DEFAULT_COMMENT_LIMIT, MAX_COMMENT_LIMIT
from ..services.task_pages import MAX_CURSOR_CHARS
from .deps import IdemKey, PathId, ServicesDep, UserId, reply
from .responses import READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(tags=["comments"])


@router.get(
    "/tasks/{task_id}/comments",
    summary="List a task's comments",
    response_model=CommentList,
    responses=errors(*READ_IN_WORKSPACE),
)
async def list_comments(
    task_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_COMMENT_LIMIT)] = DEFAULT_COMMENT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS)] = None,
) -> dict[str, Any]:
    """The task's comments, oldest first; `nextCursor` asks for the next page (null: the last). A task in the trash answers 404, its comments with it."""
    page = await services.comments.list(user_id, task_id, limit, cursor)
    return {"items": page.items, "nextCursor": page.next_cursor}


@router.post(
    "/tasks/{task_id}/comments",
    summary="Comment on a task",
    status_code=201,
    response_model=CommentOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def add_comment(
    task_id: PathId, body: CommentIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Adds a comment (member and up). `@{userId}` in the body mentions that member, who is notified (`mentions` lists them; other ids are left as text); the task's assignee is notified too. Members receive `COMMENT_ADDED`."""
    return reply(await services.comments.add(user_id, task_id, body.body, key))


@router.patch(
    "/comments/{comment_id}",
    summary="Edit a comment",
    response_model=CommentOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def update_comment(
    comment_id: PathId, body: CommentIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Replaces the body and sets `editedAt` (its author, or an admin and up; other members 403). Members newly mentioned are notified. Members receive `COMMENT_UPDATED`."""
    return reply(await services.comments.update(user_id, comment_id, body.body, key))


@router.delete(
    "/comments/{comment_id}",
    summary="Delete a comment",
    status_code=204,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def delete_comment(
    comment_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Deletes the comment for good (its author, or an admin and up; other members 403). Members receive `COMMENT_DELETED`."""
    return reply(await services.comments.delete(user_id, comment_id, key))
