"""Names of the sequence model's variants (no torch: the CLI parses them before importing it)."""

# Item signals: text + id, id only, text only; and text + id with the text term
# learned in training (a text-space query per user).
VARIANTS = ("both", "ids", "text", "query")
