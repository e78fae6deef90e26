"""Alerts out: render messages (templates) and deliver the outbox through apprise."""

from monitor.notify.deliver import Deliverer, DeliveryReport, Notifier, deliver_pending
from monitor.notify.render import Message, Renderer

__all__ = ["Deliverer", "DeliveryReport", "Message", "Notifier", "Renderer", "deliver_pending"]
