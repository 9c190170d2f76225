"""The results store: run directories and the tidy tables built from them."""
