"""The simulated world's vocabulary: names, channels, texts, scenario weights and schedules."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any, Final

FIRST_NAMES: Final = (
    ("Ana", "ana"), ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"),
    ("Søren", "soren"), ("Priya", "priya"), ("Kwame", "kwame"), ("Mei", "mei"),
    ("Olivia", "olivia"), ("Mateo", "mateo"), ("Fatima", "fatima"), ("Noah", "noah"),
    ("Chloé", "chloe"), ("Hiroshi", "hiroshi"), ("Ingrid", "ingrid"), ("Diego", "diego"),
    ("Amara", "amara"), ("Liam", "liam"), ("Sofía", "sofia"), ("Yusuf", "yusuf"),
)  # fmt: skip
LAST_NAMES: Final = (
    ("García", "garcia"), ("Smith", "smith"), ("Nowak", "nowak"), ("Müller", "muller"),
    ("O'Brien", "obrien"), ("Okafor", "okafor"), ("Chen", "chen"), ("Rossi", "rossi"),
    ("Dubois", "dubois"), ("Kowalski", "kowalski"), ("Tanaka", "tanaka"), ("Silva", "silva"),
    ("Johansson", "johansson"), ("Patel", "patel"), ("Martínez", "martinez"),
    ("Nguyen", "nguyen"),
)  # fmt: skip
TEAM_NAMES: Final = (
    "Customer Care", "Billing", "Social Media", "Escalations", "Tech Support",
    "Retail Stores", "VIP Desk", "Returns",
)  # fmt: skip
TEAM_RENAMES: Final = {
    "Customer Care": "Customer Care EMEA",
    "Billing": "Billing & Payments",
    "Social Media": "Social Care",
    "Escalations": "Tier 2 Escalations",
    "Tech Support": "Technical Support",
}
VIRTUAL_AGENTS: Final = (("va-01", "Ava"), ("va-02", "Max"))

# (medium, name, display_name, conversation weight, virtual agent index or None)
CHANNELS: Final = (
    ("TWITTER", "@AcmeSupport", "Acme Support on X", 12, None),
    ("FACEBOOK", "Acme", "Acme Facebook Page", 14, 1),
    ("INSTAGRAM", "@acme", "Acme Instagram", 11, None),
    ("WHATSAPP", "+1 555 0100", "Acme WhatsApp US", 15, 0),
    ("WHATSAPP", "+34 600 000 100", "Acme WhatsApp España", 8, None),
    ("WEBCHAT", "acme.com chat", "Website chat", 20, 0),
    ("SMS", "+1 555 0199", "Acme SMS", 6, None),
    ("LINKEDIN", "Acme Inc.", "Acme on LinkedIn", 4, None),
)
PUBLIC_MEDIA: Final = {
    "TWITTER": "MENTION",
    "FACEBOOK": "COMMENT",
    "INSTAGRAM": "COMMENT",
    "LINKEDIN": "COMMENT",
}
TOPIC_NAMES: Final = (
    "Order status", "Billing", "Returns & refunds", "Shipping", "Account access",
    "Product question", "Complaint", "Technical issue", "Store information", "Feedback",
)  # fmt: skip
NEW_TOPIC_NAMES: Final = ("Black Friday", "Holiday returns", "Loyalty programme", "Recall")
TAG_NAMES: Final = (
    "urgent", "vip", "spam", "refund", "bug", "positive", "negative", "escalated",
    "follow-up", "lead", "warranty", "order-issue",
)  # fmt: skip
# (attribute_id, name, type)
ATTRIBUTES: Final = (
    ("attr-01", "Customer tier", "TEXT"),
    ("attr-02", "Lifetime value", "NUMBER"),
    ("attr-03", "Customer since", "DATE"),
    ("attr-04", "Newsletter opt-in", "BOOLEAN"),
    ("attr-05", "Order count", "NUMBER"),
    ("attr-06", "Last order date", "DATE"),
    ("attr-07", "Notes", "TEXT"),
)
AWAY_OTHER: Final = ("Meeting", "Training", "Coaching", "Admin work")
LANGUAGES: Final = (
    ("en", 40),
    ("en-GB", 8),
    ("es", 18),
    ("es-MX", 4),
    ("fr", 8),
    ("pt-BR", 6),
    ("de", 5),
    (None, 11),
)
CONTENT_LANG: Final = {
    "en": "en",
    "en-GB": "en",
    "es": "es",
    "es-MX": "es",
    "fr": "fr",
    "pt-BR": "pt",
    "de": "de",
}
INBOUND: Final = {
    "en": (
        "Hi, my order #{n} hasn't arrived yet.", "How do I reset my password?",
        "I was charged twice this month!", "Do you ship to Canada?",
        "The app keeps crashing when I open my cart 😕", "Can I return a gift without the receipt?",
        "Is the store on Main St open on Sunday?", "I'd like to cancel my subscription.",
        "My discount code {n} doesn't work.", "Where can I find my invoice?",
    ),
    "es": (
        "Hola, mi pedido #{n} no ha llegado.", "¿Cómo cambio mi contraseña?",
        "Me han cobrado dos veces este mes.", "¿Hacéis envíos a Canarias?",
        "El código de descuento {n} no funciona.",
    ),
    "fr": ("Bonjour, ma commande #{n} n'est pas arrivée.",
           "Comment réinitialiser mon mot de passe ?", "J'ai été débité deux fois !",
           "Livrez-vous en Belgique ?"),
    "pt": ("Olá, meu pedido #{n} ainda não chegou.", "Como altero minha senha?",
           "Fui cobrado duas vezes!", "Vocês entregam no Rio?"),
    "de": ("Hallo, meine Bestellung #{n} ist noch nicht angekommen.",
           "Wie setze ich mein Passwort zurück?", "Mir wurde doppelt abgebucht!",
           "Liefert ihr nach Österreich?"),
}  # fmt: skip
FOLLOW_UPS: Final = {
    "en": ("Thanks, that worked! 🙏", "Still waiting for an answer...",
           "Here is a photo of the box.", "Order number is {n}.", "Ok, I'll try that.",
           "Can I talk to a person please?"),
    "es": ("¡Gracias, ya funciona!", "Sigo esperando...", "El número de pedido es {n}.",
           "Vale, lo pruebo."),
    "fr": ("Merci, ça marche !", "J'attends toujours...", "Le numéro de commande est {n}."),
    "pt": ("Obrigado, funcionou!", "Ainda estou esperando...", "O número do pedido é {n}."),
    "de": ("Danke, hat geklappt!", "Ich warte immer noch...", "Die Bestellnummer ist {n}."),
}  # fmt: skip
AGENT_REPLIES: Final = {
    "en": ("Hi! Sorry about that, let me check your order.", "Thanks for reaching out — I've sent "
           "you a reset link.", "I've refunded the duplicate charge, it takes 3-5 days.",
           "Could you share your order number?", "All sorted, anything else I can help with?",
           "=HYPERLINK(\"https://acme.example/help\") is our help centre."),
    "es": ("¡Hola! Perdona las molestias, reviso tu pedido.",
           "Te hemos devuelto el cargo duplicado.", "¿Nos pasas el número de pedido?",
           "Listo, ¿algo más?"),
    "fr": ("Bonjour ! Je vérifie votre commande.",
           "Pouvez-vous nous donner le numéro de commande ?"),
    "pt": ("Olá! Vou verificar o seu pedido.", "Pode nos passar o número do pedido?"),
    "de": ("Hallo! Ich prüfe Ihre Bestellung.", "Können Sie uns die Bestellnummer schicken?"),
}  # fmt: skip
VA_REPLIES: Final = (
    "Hi, I'm a virtual assistant. What can I help you with?",
    "You can track your order here: https://acme.example/track",
    "Here is how to reset your password: https://acme.example/reset",
    "Did that answer your question?",
)
PROACTIVE: Final = (
    "Hi! Your replacement has shipped, tracking: https://acme.example/t/{n}",
    "Just checking in — is everything working now?",
    "Hola, ¿pudiste resolver el problema?",
)
AUTO_REPLY: Final = (
    "Thanks for your message! Our team is offline right now and will reply from 6:00 UTC.",
    "We got your message and will get back to you shortly.",
)
API_MESSAGES: Final = ("Your order #{n} has shipped 📦", "Your refund for order #{n} was issued.")
RESOLVE_REASONS: Final = ("ISSUE_FIXED", "INFORMATION_PROVIDED", "REFUND_ISSUED", "ANSWERED")
RESOLVE_COMMENTS: Final = (
    "Customer confirmed.",
    "Refund ref R-{n}",
    "Sent the FAQ link.",
    "+ follow up next week",
    "Dup of an earlier ticket",
)
HANDOVER_REASONS: Final = (
    ("CONTACT_REQUESTED", 45),
    ("INTENT_NOT_RECOGNIZED", 25),
    ("ERROR", 15),
    ("OUT_OF_SCOPE", 15),
)
OFFSETS: Final = tuple(
    timezone(timedelta(minutes=m)) for m in (60, -300, 330, 540, -180, 0, 120, -420)
)
HOUR_WEIGHTS: Final = (
    2,
    1,
    1,
    1,
    1,
    2,
    4,
    6,
    9,
    11,
    12,
    12,
    11,
    11,
    12,
    12,
    11,
    10,
    9,
    8,
    7,
    5,
    4,
    3,
)

# Scenario weights of the conversations that are not forced.
FLOWS: Final = (
    ("standard", 38.0), ("va_resolve", 8.0), ("va_handover", 9.0), ("pending_reopen", 7.0),
    ("pending_autoresolve", 4.0), ("pending_followup", 3.0), ("no_reply_resolve", 4.0),
    ("cherry_pick", 4.0), ("takeover", 3.0), ("lock_expiry", 2.0), ("repeat_lock", 3.0),
    ("transfer", 3.0), ("manual_requeue", 1.5), ("bulk_resolve", 1.5), ("automation", 2.0),
    ("resolved_again", 4.0), ("abandoned", 1.5), ("proactive", 2.0),
)  # fmt: skip
HUMAN_AFTER_HANDOVER: Final = (
    ("standard", 70.0),
    ("pending_reopen", 8.0),
    ("takeover", 5.0),
    ("no_reply_resolve", 5.0),
    ("cherry_pick", 6.0),
    ("abandoned", 3.0),
    ("lock_expiry", 3.0),
)
# Scenarios the first day always contains (between 25% and 55% of the day), so that every
# event type and every metric rule of docs/exports.md is exercised by a one-day run.
FORCED: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("standard", {"full": True}),
    ("va_handover", {"reason": "ERROR", "force": True}),
    ("va_resolve", {"force": True}),
    ("va_handover", {"reason": "CONTACT_REQUESTED", "force": True}),
    ("pending_reopen", {"force": True}),
    ("takeover", {"force": True}),
    ("lock_expiry", {"force": True}),
    ("cherry_pick", {"force": True}),
    ("repeat_lock", {"force": True}),
    ("transfer", {"force": True}),
    ("manual_requeue", {"force": True}),
    ("bulk_resolve", {"force": True}),
    ("automation", {"force": True}),
    ("pending_autoresolve", {"force": True}),
    ("pending_followup", {"force": True}),
    ("resolved_again", {"force": True}),
    ("no_reply_resolve", {"force": True}),
    ("proactive", {"force": True}),
    ("abandoned", {"force": True}),
    ("standard", {"medium": "TWITTER", "public": True}),
    ("standard", {"medium": "FACEBOOK", "public": True, "full": True}),
)
VA_FLOWS: Final = frozenset({"va_resolve", "va_handover"})
# Directory changes per day: (fraction of the day, action, probability on days after the first;
# the first day has all of them).
DIRECTORY_CHANGES: Final = (
    (0.30, "team_rename", 0.15), (0.31, "agent_rename", 0.15), (0.33, "channel_rename", 0.1),
    (0.34, "va_rename", 0.05), (0.36, "agent_join", 0.2), (0.38, "topic_new", 0.1),
    (0.40, "topic_rename", 0.15), (0.42, "tag_rename", 0.15), (0.45, "topic_delete", 0.2),
    (0.50, "tag_delete", 0.2), (0.75, "restore", 0.3),
)  # fmt: skip
