"""Login throttling: slow password guessing down without ever letting an attacker lock a user out.

The policy (fixed windows on the shared runtime store, so every worker and host agrees):

======================  ====================  =============================================
Scope                   Trips after           Then
======================  ====================  =============================================
(account, client IP)    5 failures / 15 min   CAPTCHA for that account from that IP
client IP               20 failures / 15 min  HTTP 429 + Retry-After for that IP, any account
account, from all IPs   50 failures / 1 h     CAPTCHA for that account from every IP
======================  ====================  =============================================

The only refusal is per client IP, the attacker's own address. An attack on an account from
elsewhere costs its owner at most a CAPTCHA, never a lockout: a lockout per account would hand
every attacker a denial-of-service button against any user they can name (OWASP Authentication
Cheat Sheet, "Account Lockout"). NIST SP 800-63B §5.2.2 asks for at most 100 consecutive failed
attempts per account and names CAPTCHAs as a way to get there; 50 per hour, then a CAPTCHA on
every further try, keeps unattended guessing well under it.

Counting: an attempt costs one point when it starts (:meth:`LoginThrottle.before_attempt`) and
one more if it fails (:meth:`LoginThrottle.record_failure`); a scope trips at two points per
allowed failure. Why not count failures only and peek at the counters first?

- The store has two primitives, SET NX and INCR (:mod:`keys.runtime.cache`; ``incr_windows`` is
  INCR on several keys in one round trip); every way to read a counter through them also
  changes it, so a side-effect-free peek cannot be built on them. Counting the entry makes the
  check and the count one atomic INCR.
- It closes the parallel-burst hole of peek-then-count: a bot that fires 500 guesses at once can
  no longer slip them all past the check before the first failure is recorded.
- The price: a successful login costs half a failure, so e.g. 40 successful logins in 15 minutes
  from one address also trip the per-IP limit.

Successes reset nothing, on purpose:

- per IP: an attacker who owns any account could reset their address between guesses by logging
  into it (19 guesses, own login, 19 guesses, ...). A success never subtracts; it costs its point.
- per account: the owner's login must not give attackers elsewhere a fresh allowance of 50
  guesses without CAPTCHA.
- per (account, IP): a reset would be safe (only someone with the password can trigger it), but
  the store has no delete, and the counter ages out within 15 minutes anyway; worst case the owner,
  after 5 typos, solves a CAPTCHA until then.

Keys: accounts are NFKC-normalised, case-folded and hashed with SM3, so that ``Alice`` and
``alice`` share counters and keys have one length and no separators (the hash keeps phone numbers
out of plain sight in a Redis dump, but is no anonymisation: 10^10 numbers are enumerated in
minutes). IPv6 clients are counted per /64, because one host routinely holds a whole /64
(RFC 7934) and would otherwise get 2^64 fresh counters.

For the views that wire this in:

- ``ip`` is ``request.remote_addr``: the socket's peer, or, when that peer is one of the proxies in
  ``YITONG_TRUSTED_PROXIES``, the client address those proxies appended to ``X-Forwarded-For``
  (``yitong/proxy.py`` rewrites it before any view runs). Never read ``X-Forwarded-For`` here: a
  client writes it itself, and only the configured proxies' entries are believed.
- Call :meth:`~LoginThrottle.before_attempt` before checking the password, for unknown accounts as
  well, so that unknown and known accounts are throttled alike.
- A wrong CAPTCHA answer and a wrong second factor (TOTP, recovery code) are failures. A form sent
  without a CAPTCHA because the user did not know one was needed is not: show the challenge.
- Known limit: the per-IP refusal falls on everyone behind one address (an office, a campus, a
  mobile carrier's CGNAT). Watch the 429 rate per address before tightening the numbers.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from keys.runtime import Runtime
from keys.runtime.cache import hit_gated
from keys.sm3 import sm3

# One point when an attempt starts, one more when it fails.
_POINTS_PER_FAILED_ATTEMPT = 2
_IPV6_SUBSCRIBER_PREFIX = 64


class ThrottleReason(StrEnum):
    """Which scope asked for a CAPTCHA or refused, for logs and metrics."""

    ACCOUNT_FROM_THIS_IP = "account_from_this_ip"
    CLIENT_IP = "client_ip"
    ACCOUNT_FROM_ALL_IPS = "account_from_all_ips"


@dataclass(frozen=True)
class Decision:
    """What the login view does next: refuse with 429 + Retry-After, ask for a CAPTCHA, or go on."""

    allowed: bool
    captcha_required: bool
    retry_after_seconds: int
    reasons: tuple[ThrottleReason, ...] = ()


@dataclass(frozen=True)
class ThrottlePolicy:
    """The numbers of the module docstring's table: failures allowed per window, per scope."""

    pair_failures: int = 5
    pair_window_seconds: int = 15 * 60
    ip_failures: int = 20
    ip_window_seconds: int = 15 * 60
    account_failures: int = 50
    account_window_seconds: int = 60 * 60

    def __post_init__(self) -> None:
        if min(self.pair_failures, self.ip_failures, self.account_failures) < 1:
            raise ValueError("every scope must allow at least one failure")
        if min(self.pair_window_seconds, self.ip_window_seconds, self.account_window_seconds) < 1:
            raise ValueError("every window must last at least a second")


def account_key(account: str) -> str:
    """The store key for an account: normalised (NFKC, case-folded), then SM3."""
    normalised = unicodedata.normalize("NFKC", account).strip().casefold()
    return sm3(normalised.encode("utf-8")).hex()[:32]


def client_ip_key(ip: str) -> str:
    """The store key for a client address: IPv4 as is, IPv6 as its /64, anything else in one bucket."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except (ValueError, AttributeError):
        return "unparseable"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(address)


class LoginThrottle:
    """The policy above on a :class:`keys.runtime.Runtime`; cheap to build, holds no state itself."""

    def __init__(self, runtime: Runtime, policy: ThrottlePolicy | None = None, *, namespace: str = "login") -> None:
        self.policy = policy = policy or ThrottlePolicy()
        points = _POINTS_PER_FAILED_ATTEMPT
        self._per_pair = runtime.rate_limiter(
            f"{namespace}:pair", policy.pair_failures * points, policy.pair_window_seconds
        )
        self._per_ip = runtime.rate_limiter(f"{namespace}:ip", policy.ip_failures * points, policy.ip_window_seconds)
        self._per_account = runtime.rate_limiter(
            f"{namespace}:account", policy.account_failures * points, policy.account_window_seconds
        )

    def before_attempt(self, account: str, ip: str) -> Decision:
        """Count this attempt's start and say whether it may go ahead, and with a CAPTCHA or not."""
        account_id, ip_id = account_key(account), client_ip_key(ip)
        # One round trip; the address's counter gates the others: a refused address never touches
        # the account's counters, so it cannot keep pushing its target towards the account-wide CAPTCHA.
        counted = hit_gated((self._per_ip, ip_id), (self._per_pair, f"{account_id}:{ip_id}"),
                            (self._per_account, account_id))
        per_ip = counted[0]
        if not per_ip.allowed:
            return Decision(False, False, per_ip.retry_after_seconds, (ThrottleReason.CLIENT_IP,))
        per_pair, per_account = counted[1:]
        reasons = []
        if not per_pair.allowed:
            reasons.append(ThrottleReason.ACCOUNT_FROM_THIS_IP)
        if not per_account.allowed:
            reasons.append(ThrottleReason.ACCOUNT_FROM_ALL_IPS)
        return Decision(True, bool(reasons), 0, tuple(reasons))

    def record_failure(self, account: str, ip: str) -> None:
        """A wrong password, CAPTCHA or second factor: the attempt's second point in every scope."""
        account_id, ip_id = account_key(account), client_ip_key(ip)
        self._per_ip.hit(ip_id)
        self._per_pair.hit(f"{account_id}:{ip_id}")
        self._per_account.hit(account_id)

    def record_success(self, account: str, ip: str) -> None:
        """A successful login: deliberately changes no counter (see "Successes reset nothing" above).

        The call stays in the login flow so that a per-(account, IP) reset can live here if the
        store ever gains a delete; no other scope may ever be reset from here.
        """
