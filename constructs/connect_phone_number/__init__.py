"""AWS CDK constructs for Amazon Connect phone numbers, managed as code.

``from connect_phone_number import ClaimedPhoneNumber, IPhoneNumber``
"""

from .phone_number import ClaimedPhoneNumber, IPhoneNumber

__all__ = ["ClaimedPhoneNumber", "IPhoneNumber"]
