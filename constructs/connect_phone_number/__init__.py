"""AWS CDK constructs for Amazon Connect phone numbers, managed as code.

``from connect_phone_number import ClaimedPhoneNumber``
"""

from .phone_number import ClaimedPhoneNumber

__all__ = ["ClaimedPhoneNumber"]
