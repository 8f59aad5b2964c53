"""The one place that turns the security settings into Kafka client arguments (aiokafka, Faust)."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from streamproc.settings import Settings, check_security

if TYPE_CHECKING:
    from faust.auth import Credentials

__all__ = ["client_kwargs", "faust_credentials", "ssl_context"]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``settings`` (SSL and SASL_SSL), else None.

    Trusts ``ssl_cafile`` (the system's CAs when unset) and presents ``ssl_certfile`` /
    ``ssl_keyfile`` as the client certificate when set. Hostnames are verified.
    """
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments for an aiokafka client.

    Every ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient`` the service
    builds takes these (``AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=...)``),
    so that one setting secures them all.
    """
    check_security(settings)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    return kwargs


def faust_credentials(settings: Settings) -> Credentials | None:
    """The Faust app's ``broker_credentials`` for ``settings`` (None for PLAINTEXT).

    Faust's aiokafka transport hands these to its consumers and producers as the same
    aiokafka arguments ``client_kwargs`` gives (SCRAM included: the mechanism is passed on).
    """
    from faust.auth import SASLCredentials, SSLCredentials

    check_security(settings)
    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL_"):
        return SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            ssl_context=context,  # SASL_SSL when set, SASL_PLAINTEXT when None
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None
