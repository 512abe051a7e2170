"""The Lambda entry point of Custom::ConnectPhoneNumber: ``connect_phone_number_handler.index.on_event``."""

from __future__ import annotations

from .handler import on_event

__all__ = ["on_event"]
