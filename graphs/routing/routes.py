"""The supervisor's vocabulary: exactly these nine routes (../shared/DESIGN.md §1)."""

ROUTES = (
    "incident",
    "password_reset",
    "onboarding",
    "offboarding",
    "leave",
    "knowledge",
    "human_handoff",
    "smalltalk",
    "out_of_scope",
)
