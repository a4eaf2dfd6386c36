"""How report values are shown, wherever they are shown (the CLI's tables, the HTML report)."""

# Shares (0..1) that every table prints as a percentage.
PERCENT_COLUMNS = frozenset(
    {"conversion", "decided_conversion", "from_applied", "within_target_share", "within_standard_share",
     "compliance", "pass_rate", "rate", "share_of_time", "offer_rate", "start_rate", "embedded_rate"}
)  # fmt: skip
