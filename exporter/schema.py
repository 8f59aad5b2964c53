"""The twelve export types of docs/exports.md as data: columns, bilingual headers and cell kinds."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

LOCALES: Final = ("en", "es")


class Kind(enum.StrEnum):
    """How a column's values are rendered (see exporter.csvfmt.format_cell)."""

    TEXT = "text"
    TIMESTAMP = "timestamp"
    SECONDS = "seconds"
    COUNT = "count"
    DECIMAL2 = "decimal2"
    LIST = "list"
    BOOL = "bool"


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def column_key(en: str) -> str:
    """The row key of a column, derived from its English header.

    Lowercase; "(s)" -> "s" and "(%)" -> "pct"; every run of non-alphanumeric characters
    -> "_"; leading/trailing "_" stripped. "Avg. Handle Time (s)" -> "avg_handle_time_s".
    """
    key = en.lower().replace("(s)", "s").replace("(%)", "pct")
    return _NON_ALNUM.sub("_", key).strip("_")


@dataclass(frozen=True)
class Column:
    """One CSV column: its row key, its English and Spanish headers, and its kind."""

    key: str
    en: str
    es: str
    kind: Kind


@dataclass(frozen=True)
class ExportSpec:
    """One export type: id, human title/description and its ordered columns."""

    id: str
    title: str
    description: str
    columns: tuple[Column, ...]
    needs_range: bool

    def headers(self, locale: str) -> list[str]:
        """The header row in ``locale`` (``en`` or ``es``)."""
        if locale == "en":
            return [c.en for c in self.columns]
        if locale == "es":
            return [c.es for c in self.columns]
        raise ValueError(f"unknown locale {locale!r}; expected one of {', '.join(LOCALES)}")

    @property
    def keys(self) -> tuple[str, ...]:
        """The row keys, in column order."""
        return tuple(c.key for c in self.columns)


_T, _TS, _S, _N, _D2, _L, _B = (
    Kind.TEXT,
    Kind.TIMESTAMP,
    Kind.SECONDS,
    Kind.COUNT,
    Kind.DECIMAL2,
    Kind.LIST,
    Kind.BOOL,
)


def _cols(*table: tuple[str, str, Kind]) -> tuple[Column, ...]:
    cols = tuple(Column(column_key(en), en, es, kind) for en, es, kind in table)
    keys = [c.key for c in cols]
    if len(set(keys)) != len(keys):  # pragma: no cover - guarded by the unit tests
        raise AssertionError(f"duplicate column keys in {keys}")
    return cols


# Spanish cells: verbatim from the Spanish help article "Exporta tus datos de Inbox 2.0"
# (machine-translated wording such as "Mediano" and "CSAT con Score 2" kept on purpose).

_RESOLVED = _cols(
    ("Conversation ID", "ID de conversación", _T),
    ("Medium", "Mediano", _T),
    ("Channel", "Canal", _T),
    ("Channel Display Name", "Nombre para mostrar del canal", _T),
    ("Contact Profile ID", "ID de perfil de contacto", _T),
    ("Contact Primary Identifier", "Identificador principal de contacto", _T),
    ("Contact Secondary Identifier", "Identificador secundario de contacto", _T),
    ("Created at", "Creado en", _TS),
    ("Last Status Change Agent ID", "ID del último agente de cambio de estado", _T),
    ("Last Status Change Agent Name", "Nombre del último agente de cambio de estado", _T),
    ("Last Status Change Agent Reference", "Referencia del último agente de cambio de estado", _T),
    ("Last Status Change Team ID", "ID del equipo de último cambio de estado", _T),
    ("Last Status Change Team Name", "Nombre del equipo de último cambio de estado", _T),
    ("Current Status", "Estado actual", _T),
    ("Resolved By", "Resuelto por", _T),
    ("Resolve Reason", "Resolver motivo", _T),
    ("Resolve Comment", "Resolver comentario", _T),
    ("Resolve Trigger", "Resolver activador", _T),
    ("Resolved at", "Resuelto en", _TS),
    ("Resolved Agent ID", "ID de agente resuelto", _T),
    ("Resolved Agent Name", "Nombre de agente resuelto", _T),
    ("Resolved Agent Reference", "Referencia de agente resuelta", _T),
    ("Number of Inbound Messages", "Número de mensajes entrantes", _N),
    ("Number of Outbound Messages", "Número de mensajes salientes", _N),
    ("First Response Time (s)", "Tiempo (s) de primera respuesta", _S),
    ("Handle Time (s)", "Tiempo (s) de manejo", _S),
    ("No Reply Time (s)", "Tiempo (s) sin respuesta", _S),
    ("Cherry Pick Time (s)", "Hora (s) de recolección de cerezas", _S),
    ("Resolution Time (s)", "Tiempo (s) de resolución", _S),
    ("Topic IDs", "ID de tema", _L),
    ("Topic Names", "Nombres de temas", _L),
    ("Conversation URL", "URL de conversación", _T),
    ("Last Updated", "Última actualización", _TS),
    ("Language", "Idioma", _T),
    ("CSAT Score", "Puntuación CSAT", _N),
    ("CSAT Completed Status", "Estado CSAT completado", _T),
    ("CSAT Follow-up Question", "Pregunta de seguimiento de CSAT", _T),
    ("CSAT Follow-up Answer", "Respuesta de seguimiento de CSAT", _T),
)

_NOT_IN_OPEN: Final = frozenset(
    {
        "Resolve Reason",
        "Resolve Comment",
        "Resolve Trigger",
        "CSAT Score",
        "CSAT Completed Status",
        "CSAT Follow-up Question",
        "CSAT Follow-up Answer",
    }
)

_OPEN = tuple(c for c in _RESOLVED if c.en not in _NOT_IN_OPEN)

_MESSAGES = _cols(
    ("Message ID", "Identificador de mensaje", _T),
    ("Created at", "Creado en", _TS),
    ("Conversation ID", "ID de conversación", _T),
    ("Medium", "Mediano", _T),
    ("Channel", "Canal", _T),
    ("Channel Display Name", "Nombre para mostrar del canal", _T),
    ("Contact Profile ID", "ID de perfil de contacto", _T),
    ("Contact Primary Identifier", "Identificador principal de contacto", _T),
    ("Contact Secondary Identifier", "Identificador secundario de contacto", _T),
    ("Message Type", "Tipo de mensaje", _T),
    ("Origin", "Origen", _T),
    ("Outbound Message Type", "Tipo de mensaje saliente", _T),
    ("Direction", "Dirección", _T),
    ("Agent ID", "ID de agente", _T),
    ("Agent Name", "Nombre del agente", _T),
    ("Agent Reference", "Referencia del agente", _T),
    ("Team ID", "ID del equipo", _T),
    ("Team Name", "Nombre del equipo", _T),
    ("Tag IDs", "Identificadores de etiqueta", _L),
    ("Tag Names", "Nombres de etiquetas", _L),
    ("Content", "Contenido", _T),
    ("Conversation URL", "URL de conversación", _T),
    ("Post URL", "URL de publicación", _T),
    ("Last Updated", "Última actualización", _TS),
    ("Deleted at", "Eliminado en", _TS),
    ("System User Type", "Tipo de usuario del sistema", _T),
)

_TEAMS = _cols(
    ("Created at", "Creado en", _TS),
    ("Team ID", "ID del equipo", _T),
    ("Team Name", "Nombre del equipo", _T),
    ("Resolves With Reply", "Resuelve con respuesta", _N),
    ("Resolves Without Reply", "Resuelve sin respuesta", _N),
    ("Average First Response Time", "Tiempo promedio de primera respuesta", _S),
    ("Average Resolution Time", "Tiempo de resolución promedio", _S),
    ("Total Handle Time", "Tiempo total de manejo", _S),
    ("Total No Reply Time", "Tiempo total sin respuesta", _S),
    ("Total Cherry Pick Time", "Tiempo total de recolección de cerezas", _S),
    ("Average Handle Time", "Tiempo promedio de manejo", _S),
    ("Contacts Helped", "Contactos ayudados", _N),
    ("CSAT with Score 1", "CSAT con puntuación 1", _N),
    ("CSAT with Score 2", "CSAT con Score 2", _N),
    ("CSAT with Score 3", "CSAT con puntuación 3", _N),
    ("CSAT with Score 4", "CSAT con puntuación 4", _N),
    ("CSAT with Score 5", "CSAT con puntuación 5", _N),
    ("Tags Added", "Etiquetas añadidas", _N),
    ("Topics Added", "Temas añadidos", _N),
    ("Replies", "Respuestas", _N),
)

_CONTACTS = _cols(
    ("Contact Profile ID", "ID de perfil de contacto", _T),
    ("Medium", "Mediano", _T),
    ("Primary Identifier", "Identificador principal", _T),
    ("Secondary Identifier", "Identificador secundario", _T),
    ("Created at", "Creado en", _TS),
    ("Number of Conversations", "Número de conversaciones", _N),
    ("Number of Inbound Messages", "Número de mensajes entrantes", _N),
    ("Number of Outbound Messages", "Número de mensajes salientes", _N),
    ("Last Updated", "Última actualización", _TS),
)

_TOPICS = _cols(
    ("Topic ID", "ID de tema", _T),
    ("Topic Name", "Nombre del tema", _T),
    ("Active", "Activo", _B),
    ("Total Conversations", "Conversaciones totales", _N),
    ("Total Current Conversations", "Conversaciones actuales totales", _N),
    ("Medium", "Mediano", _T),
    ("Channel", "Canal", _T),
    ("Channel Display Name", "Nombre para mostrar del canal", _T),
)

_TAGS = _cols(
    ("Tag ID", "ID de etiqueta", _T),
    ("Tag Name", "Nombre de etiqueta", _T),
    ("Active", "Activo", _B),
    ("Total Contacts", "Contactos totales", _N),
    ("Total Messages", "Mensajes totales", _N),
    ("Total Current Messages", "Total de mensajes actuales", _N),
    ("Medium", "Mediano", _T),
    ("Channel", "Canal", _T),
    ("Channel Display Name", "Nombre para mostrar del canal", _T),
)

_AGENT_PRESENCE = _cols(
    ("User ID", "ID de usuario", _T),
    ("User Name", "Nombre de usuario", _T),
    ("User Email", "Dirección de correo del usuario", _T),
    ("Type", "Tipo", _T),
    ("Away Status", "Estado ausente", _T),
    ("From", "Desde", _TS),
    ("To", "Para", _TS),
    ("Duration (s)", "Duración (s)", _S),
)

_AGENT_METRICS = _cols(
    ("User ID", "ID de usuario", _T),
    ("User Name", "Nombre de usuario", _T),
    ("User Email", "Dirección de correo del usuario", _T),
    ("User Reference", "Referencia del usuario", _T),
    ("Available Time (s)", "Tiempo (s) disponible (s)", _S),
    ("Away Time (s)", "Tiempo (s) ausente", _S),
    ("Contacts Helped", "Contactos ayudados", _N),
    ("Avg. Handle Time (s)", "Prom. Tiempo (s) de manejo", _S),
    ("Handle Time (s)", "Tiempo (s) de manejo", _S),
    ("No Reply Time (s)", "Tiempo (s) sin respuesta", _S),
    ("Cherry Pick Time (s)", "Hora (s) de recolección de cerezas", _S),
    ("Replies", "Respuestas", _N),
    ("Resolves - With Reply", "Resuelve - Con respuesta", _N),
    ("Resolves - Without Reply", "Resuelve - Sin respuesta", _N),
    ("Tags Added", "Etiquetas añadidas", _N),
    ("Topics Added", "Temas añadidos", _N),
    ("Utilization (%)", "Utilización (%)", _D2),
    ("CSAT with Score 1", "CSAT con puntuación 1", _N),
    ("CSAT with Score 2", "CSAT con Score 2", _N),
    ("CSAT with Score 3", "CSAT con puntuación 3", _N),
    ("CSAT with Score 4", "CSAT con puntuación 4", _N),
    ("CSAT with Score 5", "CSAT con puntuación 5", _N),
)

_RESPONSES = _cols(
    ("Conversation ID", "ID de conversación", _T),
    ("Medium", "Mediano", _T),
    ("Sender Channel", "Canal remitente", _T),
    ("Sender Channel Display Name", "Nombre para mostrar del canal remitente", _T),
    ("Contact Profile ID", "ID de perfil de contacto", _T),
    ("Started By", "Comenzado por", _T),
    ("Handover Reason", "Motivo de la entrega", _T),
    ("From", "Desde", _TS),
    ("To", "Para", _TS),
    ("Agent Response Time (s)", "Tiempo (s) de respuesta del agente", _S),
    ("Responding Agent ID", "ID del agente que responde", _T),
    ("Responding Agent Name", "Nombre del agente que responde", _T),
    ("Responding Agent Reference", "Referencia del agente de respuesta", _T),
    ("Inbound Message ID", "Identificador de mensaje entrante", _T),
    ("Outbound Message ID", "Identificador de mensaje saliente", _T),
    ("Conversation URL", "URL de conversación", _T),
)

_VIRTUAL_AGENTS = _cols(
    ("Agent ID", "ID de agente", _T),
    ("Agent Name", "Nombre del agente", _T),
    ("Medium", "Mediano", _T),
    ("Channel", "Canal", _T),
    ("Channel Display Name", "Nombre para mostrar del canal", _T),
    ("Total Conversations", "Conversaciones totales", _N),
    ("Handover to Agent", "Entrega al agente", _N),
    ("Handover due to Error", "Entrega debido a un error", _N),
    ("Resolved", "Solucionado", _N),
    ("Total Conversations with Topic", "Conversaciones totales con tema", _N),
    ("Total Tagged Messages", "Total de mensajes etiquetados", _N),
    # The seed's 12th header cell repeats a description by mistake (docs/exports.md).
    ("Tags per Message", "Etiquetas por mensaje", _D2),
)

_CONTACT_ATTRIBUTES = _cols(
    ("Contact Profile ID", "ID de perfil de contacto", _T),
    ("Contact Primary Identifier", "Identificador principal de contacto", _T),
    ("Contact Secondary Identifier", "Identificador secundario de contacto", _T),
    ("Attribute ID", "Id. de atributo", _T),
    ("Attribute Name", "Nombre de atributo", _T),
    ("Attribute Value", "Valor de atributo", _T),
    ("Attribute Type", "Tipo de atributo", _T),
)


def _spec(
    export_id: str,
    title: str,
    description: str,
    columns: tuple[Column, ...],
    *,
    needs_range: bool = True,
) -> ExportSpec:
    return ExportSpec(export_id, title, description, columns, needs_range)


_ALL = (
    _spec(
        "conversations_resolved",
        "Resolved conversations",
        "One row per conversation first resolved in the range, with data as of the export.",
        _RESOLVED,
    ),
    _spec(
        "conversations_open",
        "Open conversations",
        "One row per conversation NEW or PENDING as of the export (no range).",
        _OPEN,
        needs_range=False,
    ),
    _spec(
        "messages",
        "Messages",
        "One row per unique message created in the range.",
        _MESSAGES,
    ),
    _spec(
        "teams",
        "Teams",
        "One row per team with at least one outbound message in the range.",
        _TEAMS,
    ),
    _spec(
        "contacts",
        "Contacts",
        "One row per contact with at least one message in the range.",
        _CONTACTS,
    ),
    _spec(
        "topics",
        "Topics",
        "One row per (topic, channel) with at least one application in the range.",
        _TOPICS,
    ),
    _spec(
        "tags",
        "Tags",
        "One row per (tag, channel) with at least one application in the range.",
        _TAGS,
    ),
    _spec(
        "agent_presence",
        "Agent statuses",
        "One row per AVAILABLE or AWAY interval overlapping the range (whole, not clipped).",
        _AGENT_PRESENCE,
    ),
    _spec(
        "agent_metrics",
        "Agent metrics",
        "One row per agent with presence or activity in the range.",
        _AGENT_METRICS,
    ),
    _spec(
        "responses",
        "Response times",
        "One row per response whose outbound message was created in the range.",
        _RESPONSES,
    ),
    _spec(
        "virtual_agents",
        "Virtual agents",
        "One row per (virtual agent, channel) with a message sent by it in the range.",
        _VIRTUAL_AGENTS,
    ),
    _spec(
        "contact_attributes",
        "Contact attributes",
        "One row per (contact, attribute) for contacts with an inbound message in the range.",
        _CONTACT_ATTRIBUTES,
    ),
)

EXPORTS: Final[Mapping[str, ExportSpec]] = MappingProxyType({s.id: s for s in _ALL})
