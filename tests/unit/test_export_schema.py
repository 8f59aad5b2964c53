"""The export schema: twelve types, exact English headers, verbatim Spanish headers, keys, kinds."""

from __future__ import annotations

import pytest

from exporter.schema import EXPORTS, Column, Kind, column_key

RESOLVED_EN = [
    "Conversation ID",
    "Medium",
    "Channel",
    "Channel Display Name",
    "Contact Profile ID",
    "Contact Primary Identifier",
    "Contact Secondary Identifier",
    "Created at",
    "Last Status Change Agent ID",
    "Last Status Change Agent Name",
    "Last Status Change Agent Reference",
    "Last Status Change Team ID",
    "Last Status Change Team Name",
    "Current Status",
    "Resolved By",
    "Resolve Reason",
    "Resolve Comment",
    "Resolve Trigger",
    "Resolved at",
    "Resolved Agent ID",
    "Resolved Agent Name",
    "Resolved Agent Reference",
    "Number of Inbound Messages",
    "Number of Outbound Messages",
    "First Response Time (s)",
    "Handle Time (s)",
    "No Reply Time (s)",
    "Cherry Pick Time (s)",
    "Resolution Time (s)",
    "Topic IDs",
    "Topic Names",
    "Conversation URL",
    "Last Updated",
    "Language",
    "CSAT Score",
    "CSAT Completed Status",
    "CSAT Follow-up Question",
    "CSAT Follow-up Answer",
]
_NOT_OPEN = {"Resolve Reason", "Resolve Comment", "Resolve Trigger"}

# Copied from docs/exports.md ("The twelve export types"), in order.
EXPECTED_EN: dict[str, list[str]] = {
    "conversations_resolved": RESOLVED_EN,
    "conversations_open": [
        h for h in RESOLVED_EN if h not in _NOT_OPEN and not h.startswith("CSAT ")
    ],
    "messages": [
        "Message ID",
        "Created at",
        "Conversation ID",
        "Medium",
        "Channel",
        "Channel Display Name",
        "Contact Profile ID",
        "Contact Primary Identifier",
        "Contact Secondary Identifier",
        "Message Type",
        "Origin",
        "Outbound Message Type",
        "Direction",
        "Agent ID",
        "Agent Name",
        "Agent Reference",
        "Team ID",
        "Team Name",
        "Tag IDs",
        "Tag Names",
        "Content",
        "Conversation URL",
        "Post URL",
        "Last Updated",
        "Deleted at",
        "System User Type",
    ],
    "teams": [
        "Created at",
        "Team ID",
        "Team Name",
        "Resolves With Reply",
        "Resolves Without Reply",
        "Average First Response Time",
        "Average Resolution Time",
        "Total Handle Time",
        "Total No Reply Time",
        "Total Cherry Pick Time",
        "Average Handle Time",
        "Contacts Helped",
        "CSAT with Score 1",
        "CSAT with Score 2",
        "CSAT with Score 3",
        "CSAT with Score 4",
        "CSAT with Score 5",
        "Tags Added",
        "Topics Added",
        "Replies",
    ],
    "contacts": [
        "Contact Profile ID",
        "Medium",
        "Primary Identifier",
        "Secondary Identifier",
        "Created at",
        "Number of Conversations",
        "Number of Inbound Messages",
        "Number of Outbound Messages",
        "Last Updated",
    ],
    "topics": [
        "Topic ID",
        "Topic Name",
        "Active",
        "Total Conversations",
        "Total Current Conversations",
        "Medium",
        "Channel",
        "Channel Display Name",
    ],
    "tags": [
        "Tag ID",
        "Tag Name",
        "Active",
        "Total Contacts",
        "Total Messages",
        "Total Current Messages",
        "Medium",
        "Channel",
        "Channel Display Name",
    ],
    "agent_presence": [
        "User ID",
        "User Name",
        "User Email",
        "Type",
        "Away Status",
        "From",
        "To",
        "Duration (s)",
    ],
    "agent_metrics": [
        "User ID",
        "User Name",
        "User Email",
        "User Reference",
        "Available Time (s)",
        "Away Time (s)",
        "Contacts Helped",
        "Avg. Handle Time (s)",
        "Handle Time (s)",
        "No Reply Time (s)",
        "Cherry Pick Time (s)",
        "Replies",
        "Resolves - With Reply",
        "Resolves - Without Reply",
        "Tags Added",
        "Topics Added",
        "Utilization (%)",
        "CSAT with Score 1",
        "CSAT with Score 2",
        "CSAT with Score 3",
        "CSAT with Score 4",
        "CSAT with Score 5",
    ],
    "responses": [
        "Conversation ID",
        "Medium",
        "Sender Channel",
        "Sender Channel Display Name",
        "Contact Profile ID",
        "Started By",
        "Handover Reason",
        "From",
        "To",
        "Agent Response Time (s)",
        "Responding Agent ID",
        "Responding Agent Name",
        "Responding Agent Reference",
        "Inbound Message ID",
        "Outbound Message ID",
        "Conversation URL",
    ],
    "virtual_agents": [
        "Agent ID",
        "Agent Name",
        "Medium",
        "Channel",
        "Channel Display Name",
        "Total Conversations",
        "Handover to Agent",
        "Handover due to Error",
        "Resolved",
        "Total Conversations with Topic",
        "Total Tagged Messages",
        "Tags per Message",
    ],
    "contact_attributes": [
        "Contact Profile ID",
        "Contact Primary Identifier",
        "Contact Secondary Identifier",
        "Attribute ID",
        "Attribute Name",
        "Attribute Value",
        "Attribute Type",
    ],
}


def test_twelve_types_in_document_order() -> None:
    assert list(EXPORTS) == list(EXPECTED_EN)
    assert len(EXPORTS) == 12
    assert all(spec.id == eid for eid, spec in EXPORTS.items())


def test_only_open_conversations_has_no_range() -> None:
    assert [eid for eid, s in EXPORTS.items() if not s.needs_range] == ["conversations_open"]


@pytest.mark.parametrize("export_id", list(EXPECTED_EN))
def test_english_headers_exact(export_id: str) -> None:
    assert EXPORTS[export_id].headers("en") == EXPECTED_EN[export_id]


@pytest.mark.parametrize("export_id", list(EXPECTED_EN))
def test_spanish_headers_complete_and_distinct_from_english(export_id: str) -> None:
    spec = EXPORTS[export_id]
    es = spec.headers("es")
    assert len(es) == len(spec.headers("en")) == len(spec.columns)
    assert all(h and h == h.strip() and "\n" not in h for h in es)


@pytest.mark.parametrize("export_id", list(EXPECTED_EN))
def test_keys_unique_and_derived(export_id: str) -> None:
    spec = EXPORTS[export_id]
    keys = [c.key for c in spec.columns]
    assert len(set(keys)) == len(keys)
    assert all(c.key == column_key(c.en) for c in spec.columns)
    assert spec.keys == tuple(keys)


@pytest.mark.parametrize("export_id", list(EXPECTED_EN))
def test_description_is_one_line(export_id: str) -> None:
    spec = EXPORTS[export_id]
    assert spec.title and spec.description and "\n" not in spec.description


def test_unknown_locale() -> None:
    with pytest.raises(ValueError, match="unknown locale 'fr'"):
        EXPORTS["messages"].headers("fr")


@pytest.mark.parametrize(
    ("en", "key"),
    [
        ("First Response Time (s)", "first_response_time_s"),
        ("Utilization (%)", "utilization_pct"),
        ("Avg. Handle Time (s)", "avg_handle_time_s"),
        ("Resolves - With Reply", "resolves_with_reply"),
        ("CSAT with Score 1", "csat_with_score_1"),
        ("Contact Profile ID", "contact_profile_id"),
        ("CSAT Follow-up Question", "csat_follow_up_question"),
        ("Created at", "created_at"),
        ("Topic IDs", "topic_ids"),
    ],
)
def test_column_key(en: str, key: str) -> None:
    assert column_key(en) == key


def _col(export_id: str, en: str) -> Column:
    return next(c for c in EXPORTS[export_id].columns if c.en == en)


@pytest.mark.parametrize(
    ("export_id", "en", "es"),
    [
        ("conversations_resolved", "Conversation ID", "ID de conversación"),
        ("conversations_resolved", "Medium", "Mediano"),
        ("conversations_resolved", "Cherry Pick Time (s)", "Hora (s) de recolección de cerezas"),
        ("conversations_resolved", "Resolved Agent Reference", "Referencia de agente resuelta"),
        ("conversations_resolved", "Topic IDs", "ID de tema"),
        ("conversations_resolved", "CSAT Follow-up Answer", "Respuesta de seguimiento de CSAT"),
        ("conversations_open", "Resolved at", "Resuelto en"),
        ("messages", "Message ID", "Identificador de mensaje"),
        ("messages", "System User Type", "Tipo de usuario del sistema"),
        ("teams", "CSAT with Score 2", "CSAT con Score 2"),
        ("teams", "Average Resolution Time", "Tiempo de resolución promedio"),
        ("agent_presence", "To", "Para"),
        ("agent_metrics", "Available Time (s)", "Tiempo (s) disponible (s)"),
        ("agent_metrics", "Resolves - Without Reply", "Resuelve - Sin respuesta"),
        ("agent_metrics", "Utilization (%)", "Utilización (%)"),
        ("responses", "Started By", "Comenzado por"),
        ("responses", "Handover Reason", "Motivo de la entrega"),
        ("virtual_agents", "Resolved", "Solucionado"),
        ("contact_attributes", "Attribute ID", "Id. de atributo"),
    ],
)
def test_spanish_spot_checks(export_id: str, en: str, es: str) -> None:
    assert _col(export_id, en).es == es


def test_virtual_agents_twelfth_spanish_header_is_fixed() -> None:
    es = EXPORTS["virtual_agents"].headers("es")
    assert len(es) == 12
    assert es[11] == "Etiquetas por mensaje"
    assert "La cantidad de mensajes que se han etiquetado en general" not in es


def test_open_is_resolved_minus_resolve_and_csat_columns() -> None:
    resolved = EXPORTS["conversations_resolved"].columns
    open_ = EXPORTS["conversations_open"].columns
    assert len(open_) == len(resolved) - 7 == 31
    assert list(open_) == [c for c in resolved if c in open_]


@pytest.mark.parametrize(
    ("export_id", "en", "kind"),
    [
        ("conversations_resolved", "Conversation ID", Kind.TEXT),
        ("conversations_resolved", "Created at", Kind.TIMESTAMP),
        ("conversations_resolved", "Resolved at", Kind.TIMESTAMP),
        ("conversations_resolved", "Last Updated", Kind.TIMESTAMP),
        ("conversations_resolved", "First Response Time (s)", Kind.SECONDS),
        ("conversations_resolved", "Number of Inbound Messages", Kind.COUNT),
        ("conversations_resolved", "Topic IDs", Kind.LIST),
        ("conversations_resolved", "Topic Names", Kind.LIST),
        ("conversations_resolved", "CSAT Score", Kind.COUNT),
        ("conversations_resolved", "CSAT Completed Status", Kind.TEXT),
        ("messages", "Tag IDs", Kind.LIST),
        ("messages", "Deleted at", Kind.TIMESTAMP),
        ("teams", "Average First Response Time", Kind.SECONDS),
        ("teams", "Average Handle Time", Kind.SECONDS),
        ("teams", "Total Cherry Pick Time", Kind.SECONDS),
        ("teams", "Replies", Kind.COUNT),
        ("topics", "Active", Kind.BOOL),
        ("tags", "Active", Kind.BOOL),
        ("agent_presence", "From", Kind.TIMESTAMP),
        ("agent_presence", "Duration (s)", Kind.SECONDS),
        ("agent_metrics", "Utilization (%)", Kind.DECIMAL2),
        ("agent_metrics", "Avg. Handle Time (s)", Kind.SECONDS),
        ("virtual_agents", "Tags per Message", Kind.DECIMAL2),
        ("virtual_agents", "Resolved", Kind.COUNT),
        ("contact_attributes", "Attribute Value", Kind.TEXT),
    ],
)
def test_kinds(export_id: str, en: str, kind: Kind) -> None:
    assert _col(export_id, en).kind is kind


@pytest.mark.parametrize("export_id", list(EXPECTED_EN))
def test_every_seconds_column_is_a_duration(export_id: str) -> None:
    for c in EXPORTS[export_id].columns:
        if c.en.endswith("(s)"):
            assert c.kind is Kind.SECONDS, c.en
        if c.en in {"Created at", "Resolved at", "From", "To", "Last Updated", "Deleted at"}:
            assert c.kind is Kind.TIMESTAMP, c.en
