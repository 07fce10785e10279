"""Names of the sequence model's variants (no torch: the CLI parses them before importing it)."""

# Item signals: text + id, id only, text only; and text + id with the text term
# learned in training (a text-space query per user); text + id with BERT's top
# layer tuned in training, or low-rank adapters on it (training/text_tuning.py).
VARIANTS = ("both", "ids", "text", "query", "top-layer", "lora")
TUNED_VARIANTS = ("top-layer", "lora")
