"""Webhooks (PROTOCOL §8): hooks per workspace, and their signed, ordered, at-least-once delivery."""

from .service import NewWebhook, WebhookChange, WebhookService
from .wake import WakingPublisher
from .worker import WebhookWorker

__all__ = ["NewWebhook", "WakingPublisher", "WebhookChange", "WebhookService", "WebhookWorker"]
