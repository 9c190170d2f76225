"""Layer choices: each module holds one registry (name → constructor)."""
