"""The emulated Connect phone-number service: its state, fault injection, and the request path (IAM, throttle, idempotency).

The operations are in operations.py, the record book they share in records.py, the data in model.py.
Behaviour follows shared/reference/connect-phone-number-api.md; "(choice)" marks what the reference leaves open.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import iam
from .model import LIMIT_MESSAGE, EmulatorConfig, Number, TokenBucket, _snake, default_inventory
from .operations import PhoneNumberOperations
from .wire import WireError

__all__ = ["LIMIT_MESSAGE", "ConnectService", "EmulatorConfig", "Number", "default_inventory"]


class ConnectService(PhoneNumberOperations):
    """The service: its state, faults and request path, with the operations of PhoneNumberOperations. Thread-safe; every public operation takes the lock."""

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time, state_file: Path | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.state_file = state_file
        self.lock = threading.RLock()
        self.numbers: dict[str, Number] = {}
        self.inventory = {n: (c, t) for n, c, t in default_inventory(self.config.inventory_per_kind)}
        self.cooldown: dict[str, float] = {}  # number -> when it may be claimed again
        self.releases: list[float] = []  # release times, for the churn quota
        self.tokens: dict[str, tuple[str, Any, float]] = {}  # op/token -> (fingerprint, response, time)
        self.buckets: dict[str, TokenBucket] = {}
        self.claim_failures: list[tuple[str, str]] = []  # (match, message): exact number, prefix, or "*"
        self.import_failures: list[tuple[str, str]] = []  # (match, message): source ARN, prefix, or "*"
        self.injected: list[tuple[int, str, str]] = []  # the next calls' errors: (status, code, operation or "*")
        self.calls: dict[str, int] = {}  # requests per operation, throttled ones included
        self.throttled: dict[str, int] = {}  # requests per operation answered 429 by the token bucket
        self.identities: dict[str, iam.Identity] = {}  # access key id -> identity whose policy is enforced
        self.authorized: list[tuple[str, str, str]] = []  # (principal, action, resource) of every allowed check
        self.denied: list[str] = []  # AccessDeniedException messages
        self.unchecked = 0  # requests no identity policy applied to
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # --- fault injection and inspection (Python API; also over HTTP under /_emulator) ---

    def fail_claims(self, match: str = "*", message: str = LIMIT_MESSAGE) -> None:
        """Make claims end FAILED with ``message``: ``match`` is an exact number, a prefix, or "*"."""
        with self.lock:
            self.claim_failures.append((match, message))
            self._save()

    def clear_faults(self) -> None:
        """Remove every injected claim failure and pending error."""
        with self.lock:
            self.claim_failures.clear()
            self.import_failures.clear()
            self.injected.clear()
            self._save()

    def fail_next(self, count: int, *, status: int = 429, code: str | None = None, operation: str = "*") -> None:
        """Answer the next ``count`` calls (of ``operation``, or any) with an error."""
        with self.lock:
            self.injected.extend([(status, code or self.config.throttle_code, operation)] * count)

    def add_identity(
        self, access_key_id: str, principal: str, policy: dict[str, Any] | list[dict[str, Any]], boundary: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> None:
        """Enforce ``policy`` (an IAM policy document, or a list of them), within ``boundary`` if given, on requests signed with ``access_key_id``."""
        with self.lock:
            self.identities[access_key_id] = iam.Identity.from_policy(principal, policy, boundary)

    def iam_summary(self) -> dict[str, Any]:
        """Whether IAM is enforced, and how many checks were allowed and denied."""
        with self.lock:
            enforced = bool(self.identities) or self.config.identity_policy is not None
            return {
                "enforced": enforced,
                "allowed": len(self.authorized),
                "denied": len(self.denied),
                "unchecked": self.unchecked,
                "denials": list(self.denied[-5:]),
            }

    def available(self, country: str, kind: str, *, account: str | None = None) -> list[str]:
        """Numbers that search would offer now, to this emulator's account or to ``account`` (another customer)."""
        with self.lock:
            return self._available(country, kind, None, account or self.config.account_id)

    def fail_imports(self, match: str = "*", message: str = LIMIT_MESSAGE) -> None:
        """Make imports end FAILED with ``message``: ``match`` is a source ARN, a prefix of one, or "*"."""
        with self.lock:
            self.import_failures.append((match, message))
            self._save()

    def held(self) -> list[dict[str, Any]]:
        """A snapshot of every number record (failed claims and releases included), for tests and the demo."""
        with self.lock:
            now = self.clock()
            return [asdict(self._advance(n, now)) for n in list(self.numbers.values()) if n.id in self.numbers]

    def holding(self) -> list[dict[str, Any]]:
        """A snapshot of the records that hold their number: what the account is billed for."""
        with self.lock:
            return [asdict(n) for n in self._held(self.clock())]

    # --- the request path ---

    def handle(self, operation: str, params: dict[str, Any], region: str | None, access_key_id: str | None = None) -> Any:
        """Run one operation: IAM, throttle, injected faults, idempotency, then the operation itself."""
        with self.lock:
            region = region or self.config.region
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self._authorize(operation, params, region, access_key_id)
            # Connect throttles per account, Region and API.
            # On the service's clock, as its workflows are: a test's virtual clock refills the bucket too.
            bucket = self.buckets.setdefault(f"{region}/{operation}", TokenBucket(self.config.rate_per_second, self.config.burst, self.clock))
            if not bucket.take():
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
                raise WireError(429, self.config.throttle_code, "Rate exceeded")
            for i, (status, code, only) in enumerate(self.injected):
                if only in ("*", operation):
                    del self.injected[i]
                    raise WireError(status, code, "Injected fault")
            token = params.get("ClientToken")
            key = f"{operation}/{token}"
            fingerprint = json.dumps({k: v for k, v in params.items() if k != "ClientToken"}, sort_keys=True)
            now = self.clock()
            if token is not None and key in self.tokens and now - self.tokens[key][2] < self.config.token_window_seconds:
                stored_fingerprint, response, _ = self.tokens[key]
                if stored_fingerprint != fingerprint:
                    raise WireError(409, "IdempotencyException", "An entity already exists with the same client token and different parameters.")
                return copy.deepcopy(response)
            response = getattr(self, "_" + _snake(operation))(params, region, now)
            if token is not None:  # (choice) only accepted requests use up a token
                self.tokens[key] = (fingerprint, copy.deepcopy(response), now)
            self._save()
            return response

    def _authorize(self, operation: str, params: dict[str, Any], region: str, access_key_id: str | None) -> None:
        """AccessDeniedException unless the caller's identity policy allows the request (no policy: no IAM)."""
        identity = self.identities.get(access_key_id or "")
        if identity is None and self.config.identity_policy is not None:
            identity = iam.Identity.from_policy(
                f"arn:aws:sts::{self.config.account_id}:assumed-role/emulator/{access_key_id or 'anonymous'}", self.config.identity_policy
            )
        if identity is None:
            self.unchecked += 1
            return
        number = self.numbers.get(str(params.get("PhoneNumberId", "")).rsplit("/", 1)[-1])
        context = iam.RequestContext(region, self.config.account_id, params, current_target=number.target_arn if number else None)
        try:
            allowed = iam.authorize(identity, f"connect:{operation}", context)
        except WireError as denial:
            self.denied.append(denial.message)
            raise
        self.authorized.extend((identity.principal, action, arn) for action, arn in allowed)

    # --- persistence, for multi-step demos ---

    def _save(self) -> None:
        if self.state_file is None:
            return
        state = {
            "numbers": [asdict(n) for n in self.numbers.values()],
            "cooldown": self.cooldown,
            "releases": self.releases,
            "tokens": {k: list(v) for k, v in self.tokens.items()},
            "claim_failures": self.claim_failures,
            "import_failures": self.import_failures,
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self.numbers = {n["id"]: Number(**n) for n in state["numbers"]}
        self.cooldown = state["cooldown"]
        self.releases = state["releases"]
        self.tokens = {k: (v[0], v[1], v[2]) for k, v in state["tokens"].items()}
        self.claim_failures = [(m, s) for m, s in state["claim_failures"]]
        self.import_failures = [(m, s) for m, s in state.get("import_failures", [])]
